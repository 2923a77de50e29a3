"""SANDBOX_CPU_PER_REQUEST: each request costs the pod app real CPU time, which the metrics API then sees."""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Iterator

import pytest

from pipeline_steps_sandbox.metrics_samples import CLOCK_TICKS, parse_stat
from tests.unit.test_sandbox_pod_app_keepalive import _start


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        return parse_stat(stat.read()).cpu_ticks / CLOCK_TICKS


def _cost_of_requests(port: int, pid: int, count: int, user_agent: str = "test") -> float:
    before = _cpu_seconds(pid)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(count):
        connection.request("GET", "/", headers={"User-Agent": user_agent})
        assert connection.getresponse().read()
    connection.close()
    return _cpu_seconds(pid) - before


def test_each_request_burns_the_cpu_it_is_told_to(stop_all: list[subprocess.Popen[bytes]]) -> None:
    process, port = _start(SANDBOX_CPU_PER_REQUEST="50")
    stop_all.append(process)

    assert _cost_of_requests(port, process.pid, 10) >= 0.45  # 10 x 50 ms, give or take a clock tick


def test_probes_and_an_unset_knob_cost_next_to_nothing(stop_all: list[subprocess.Popen[bytes]]) -> None:
    burning, burning_port = _start(SANDBOX_CPU_PER_REQUEST="50")
    idle, idle_port = _start()
    stop_all.extend([burning, idle])

    assert _cost_of_requests(burning_port, burning.pid, 10, user_agent="kube-probe/1.36") < 0.25
    assert _cost_of_requests(idle_port, idle.pid, 10) < 0.25
