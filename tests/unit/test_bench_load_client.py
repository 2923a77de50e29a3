"""The benchmark's load client on a known timeline: a local server that answers as blue, then as green, then
stops answering; the client must record each phase as it happened, half on kept-alive connections."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from benchmarks.load_client import LoadClient, Request, error_kind


class _Phases:
    """What the server answers now: a role, or (stopped) nothing at all."""

    def __init__(self) -> None:
        self.role = "blue"
        self.stopped = False
        self.lock = threading.Lock()


def _handler(phases: _Phases) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the sandbox's pods answer

        def do_GET(self) -> None:
            with phases.lock:
                role, stopped = phases.role, phases.stopped
            if stopped:
                self.close_connection = True  # a server going away: the connection closes unanswered
                return
            data = json.dumps({"role": role, "image": f"web:{role}", "pod": f"web-{role}-1"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, _Phases]]:
    phases = _Phases()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(phases))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, phases
    if not phases.stopped:
        httpd.shutdown()
        httpd.server_close()


def _until(what: str, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.01)


def _recorded(client: LoadClient) -> list[Request]:
    with client._lock:
        return list(client.requests)


def test_records_each_phase_of_a_known_timeline(server: tuple[ThreadingHTTPServer, _Phases]) -> None:
    httpd, phases = server
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    client = LoadClient(url, rate=200, workers=4)
    started = time.monotonic()
    client.start()
    try:
        _until("blue answers", lambda: sum(r.role == "blue" for r in _recorded(client)) >= 40)
        with phases.lock:
            phases.role = "green"
            switched = time.monotonic()
        _until(
            "green answers",
            lambda: sum(r.role == "green" and r.started > switched for r in _recorded(client)) >= 40,
        )
        with phases.lock:
            phases.stopped = True
        httpd.shutdown()
        httpd.server_close()
        stopped = time.monotonic()
        _until(
            "failures of both kinds of worker",
            lambda: {r.keepalive for r in _recorded(client) if r.failed and r.started > stopped} == {True, False},
        )
    finally:
        requests = client.stop()
    ended = time.monotonic()

    assert requests == sorted(requests, key=lambda r: r.started)
    roles = Counter(r.role for r in requests if r.answered)
    assert roles["blue"] >= 40 and roles["green"] >= 40, roles
    # Blue answered only before the switch; after the server stopped, nothing was answered.
    assert all(r.started < switched for r in requests if r.role == "blue")
    assert all(r.failed and r.status is None and r.error for r in requests if r.started > stopped)
    assert all(not r.failed for r in requests if r.started < switched)
    assert {r.image for r in requests if r.answered} == {"web:blue", "web:green"}
    assert {r.pod for r in requests if r.role == "green"} == {"web-green-1"}
    # New connections are refused once the server is gone; kept-alive ones are closed unanswered.
    after = [r for r in requests if r.started > stopped]
    assert {r.error for r in after if not r.keepalive} == {"refused"}
    assert {r.error for r in after if r.keepalive} <= {"closed", "reset", "refused"}

    # Half the workers keep their connection: they reuse it until it fails; the others never reuse one.
    kept = [r for r in requests if r.keepalive and r.started < stopped]
    fresh = [r for r in requests if not r.keepalive]
    assert kept and fresh
    assert sum(r.reused for r in kept) >= len(kept) - 2  # the first request of each of the two workers
    assert not any(r.reused for r in fresh)
    assert len({r.connection for r in fresh}) == len(fresh)
    # Paced, not a flood: never more than the rate allows (plus each worker's first instant).
    assert len(requests) <= 200 * (ended - started) + 4


def test_rate_and_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate and workers"):
        LoadClient("http://127.0.0.1:1/", rate=0)


def test_a_loopback_target_is_sent_from_the_host() -> None:
    assert LoadClient("http://127.0.0.1:1/").namespace is None


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (http.client.RemoteDisconnected("gone"), "closed"),
        (ConnectionRefusedError(111, "refused"), "refused"),
        (ConnectionResetError(104, "reset"), "reset"),
        (BrokenPipeError(32, "pipe"), "reset"),
        (TimeoutError("slow"), "timeout"),
        (http.client.BadStatusLine("x"), "bad-answer"),
        (OSError(113, "no route"), "ehostunreach"),
    ],
)
def test_error_kinds(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def test_a_request_survives_a_round_trip_through_json() -> None:
    request = Request(1.5, 0.002, True, 3, True, status=200, role="blue", image="web:1", pod="web-1")
    assert Request.from_dict(json.loads(json.dumps(request.as_dict()))) == request
