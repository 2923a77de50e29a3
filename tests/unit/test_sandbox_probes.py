"""Container probes as the sandbox's node agent runs them: thresholds over time, ports, and real attempts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from pipeline_steps_sandbox.probes import ProbeOutcome, ProbeState, resolve_port, run_probe

OK = ProbeOutcome(True, "HTTP 200")
FAIL = ProbeOutcome(False, "HTTP probe failed with statuscode: 503")
CONTAINER: dict[str, Any] = {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}


def replay(state: ProbeState, outcomes: list[ProbeOutcome]) -> list[tuple[bool, bool]]:
    """(flipped, result) after each attempt, one period apart."""
    seen = []
    now = state.next_due
    for outcome in outcomes:
        flipped = state.record(outcome, now)
        seen.append((flipped, state.result))
        now = state.next_due
    return seen


# -- thresholds -----------------------------------------------------------------------------------


def test_readiness_starts_failing_and_passes_at_the_first_success_by_default() -> None:
    state = ProbeState({}, result=False, started_at=100.0)

    assert replay(state, [FAIL, OK, OK]) == [(False, False), (True, True), (False, True)]


def test_it_takes_failure_threshold_failures_in_a_row_to_fail_default_three() -> None:
    state = ProbeState({}, result=True, started_at=0.0)

    seen = replay(state, [FAIL, FAIL, OK, FAIL, FAIL, FAIL])

    # The success in between starts the count over.
    assert [result for _, result in seen] == [True, True, True, True, True, False]
    assert [flipped for flipped, _ in seen] == [False, False, False, False, False, True]


def test_success_threshold_needs_that_many_successes_in_a_row() -> None:
    state = ProbeState({"successThreshold": 2, "failureThreshold": 1}, result=False, started_at=0.0)

    seen = replay(state, [OK, FAIL, OK, OK, FAIL])

    assert [result for _, result in seen] == [False, False, False, True, False]


def test_a_liveness_probe_starts_passing_and_successes_do_not_flip_it() -> None:
    state = ProbeState({"failureThreshold": 1}, result=True, started_at=0.0)

    assert replay(state, [OK, OK, FAIL]) == [(False, True), (False, True), (True, False)]


def test_the_first_attempt_waits_for_the_initial_delay_then_one_per_period() -> None:
    state = ProbeState({"initialDelaySeconds": 5, "periodSeconds": 2}, result=False, started_at=100.0)

    assert not state.due(104.9)
    assert state.due(105.0)
    state.record(OK, 105.0)
    assert not state.due(106.9)
    assert state.due(107.0)


def test_the_period_defaults_to_ten_seconds() -> None:
    state = ProbeState({}, result=False, started_at=0.0)

    assert state.due(0.0)
    state.record(FAIL, 0.0)
    assert state.period == 10.0
    assert not state.due(9.9) and state.due(10.0)


def test_the_last_message_is_kept_for_the_unhealthy_event() -> None:
    state = ProbeState({}, result=True, started_at=0.0)

    state.record(FAIL, 0.0)

    assert state.last_message == FAIL.message


# -- ports ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("port", "expected"), [(8080, 8080), ("9090", 9090), ("http", 8080)])
def test_a_probe_port_is_a_number_or_a_named_container_port(port: int | str, expected: int) -> None:
    assert resolve_port(port, CONTAINER) == expected


def test_an_unknown_port_name_says_which_container_lacks_it() -> None:
    with pytest.raises(ValueError, match="'metrics' is not a port of container 'app'"):
        resolve_port("metrics", CONTAINER)


# -- attempts against real servers -----------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append({"path": self.path, **dict(self.headers.items())})
        status = 200 if self.path == "/healthz" else 503 if self.path == "/unready" else 302
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_probe_passes_on_2xx_and_3xx_and_says_it_is_a_kube_probe(http_port: int) -> None:
    probe = {"httpGet": {"path": "/healthz", "port": http_port, "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}

    outcome = run_probe(probe, CONTAINER, "127.0.0.1", "1.36.3")
    redirect = run_probe({"httpGet": {"path": "/moved", "port": http_port}}, CONTAINER, "127.0.0.1", "1.36.3")

    assert outcome == ProbeOutcome(True, "HTTP 200")
    assert redirect.ok
    assert _Recorder.seen[0]["path"] == "/healthz"
    assert _Recorder.seen[0]["User-Agent"] == "kube-probe/1.36"
    assert _Recorder.seen[0]["X-Probe"] == "1"


def test_http_probe_fails_on_a_5xx_with_the_kubelet_message(http_port: int) -> None:
    outcome = run_probe({"httpGet": {"path": "/unready", "port": http_port}}, CONTAINER, "127.0.0.1", "1.36.3")

    assert outcome == ProbeOutcome(False, "HTTP probe failed with statuscode: 503")


def test_http_probe_fails_when_nothing_listens() -> None:
    outcome = run_probe({"httpGet": {"path": "/", "port": closed_port()}}, CONTAINER, "127.0.0.1", "1.36.3")

    assert not outcome.ok
    assert outcome.message.startswith('Get "http://127.0.0.1:')


def test_https_probes_are_reported_as_unsupported(http_port: int) -> None:
    outcome = run_probe({"httpGet": {"port": http_port, "scheme": "HTTPS"}}, CONTAINER, "127.0.0.1", "1.36.3")

    assert outcome == ProbeOutcome(False, "the sandbox probes only plain HTTP")


def test_tcp_probe_passes_when_the_port_accepts_and_fails_when_not(http_port: int) -> None:
    assert run_probe({"tcpSocket": {"port": http_port}}, CONTAINER, "127.0.0.1", "1.36.3").ok
    assert not run_probe({"tcpSocket": {"port": closed_port()}}, CONTAINER, "127.0.0.1", "1.36.3").ok
    assert not run_probe({"tcpSocket": {"port": "metrics"}}, CONTAINER, "127.0.0.1", "1.36.3").ok


def test_exec_probes_cannot_run_and_count_as_passing() -> None:
    outcome = run_probe({"exec": {"command": ["cat", "/tmp/healthy"]}}, CONTAINER, "127.0.0.1", "1.36.3")

    assert outcome == ProbeOutcome(True, "not run in the sandbox")
