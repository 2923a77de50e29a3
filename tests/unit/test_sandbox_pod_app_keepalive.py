"""The sandbox's pod app keeps connections alive, and on SIGTERM says goodbye on them (or, if told, does not)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(**env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline_steps_sandbox.pod_app"],
        env=dict(
            os.environ,
            SANDBOX_POD_LISTEN_HOST="127.0.0.1",
            SANDBOX_POD_PORTS=str(port),
            SANDBOX_POD_NAME="web-1",
            **env,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            assert time.monotonic() < deadline, "the pod app did not listen"
            time.sleep(0.05)


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _get(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    return response


def test_two_requests_share_one_kept_alive_connection(stop_all: list[subprocess.Popen[bytes]]) -> None:
    process, port = _start()
    stop_all.append(process)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    first = _get(connection)
    local = connection.sock.getsockname()
    second = _get(connection)

    assert first.version == 11 and first.getheader("Connection") is None
    assert second.status == 200
    assert connection.sock.getsockname() == local  # the same TCP connection answered both


def test_sigterm_answers_an_idle_connection_with_connection_close(stop_all: list[subprocess.Popen[bytes]]) -> None:
    process, port = _start(SANDBOX_DRAIN_LINGER="5")
    stop_all.append(process)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    _get(connection)

    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # let the signal land before the next request
    last = _get(connection)

    assert last.status == 200
    assert last.getheader("Connection") == "close"
    assert process.wait(timeout=10) == 0


def test_sigterm_lets_an_in_flight_request_finish(stop_all: list[subprocess.Popen[bytes]]) -> None:
    process, port = _start(SANDBOX_RESPONSE_DELAY="1")
    stop_all.append(process)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/")
    time.sleep(0.3)  # the request is being answered
    process.send_signal(signal.SIGTERM)

    response = connection.getresponse()
    response.read()

    assert response.status == 200
    assert response.getheader("Connection") == "close"
    assert process.wait(timeout=10) == 0


def test_abrupt_closes_idle_connections_without_a_word(stop_all: list[subprocess.Popen[bytes]]) -> None:
    process, port = _start(SANDBOX_KEEPALIVE_ON_SIGTERM="abrupt")
    stop_all.append(process)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    _get(connection)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0

    # The client learns only when it next uses the connection.
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        _get(connection)
