"""CPU and memory of the sandbox's pod processes: /proc parsing, the rate between two samples, and the tracker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time

from pipeline_steps_sandbox.metrics_samples import (
    CLOCK_TICKS,
    PAGE_SIZE,
    ContainerProcess,
    ProcessStat,
    Sample,
    UsageTracker,
    cpu_nanocores,
    parse_stat,
    read_processes,
)
from pipeline_steps_sandbox.metrics_server import front_proxy_user, registration

T0 = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
# A real line's shape, with a command name that holds a space and a parenthesis.
STAT = (
    "4242 (python3 (pod)) S 4200 4242 4242 0 -1 4194560 1500 0 0 0 "
    "250 30 0 0 20 0 3 0 123456 250000000 5120 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0"
)


def test_a_stat_line_gives_session_cpu_ticks_and_resident_pages() -> None:
    assert parse_stat(STAT) == ProcessStat(pid=4242, session=4242, cpu_ticks=280, rss_pages=5120)


def test_this_process_reads_as_its_own_in_proc() -> None:
    mine = [p for p in read_processes() if p.pid == os.getpid()]
    assert len(mine) == 1
    assert mine[0].session == os.getsid(0)
    assert mine[0].rss_pages > 0


def test_cpu_rate_is_cpu_seconds_over_elapsed_seconds_in_nanocores() -> None:
    earlier = Sample(100.0, T0, cpu_seconds=2.0, memory_bytes=0)
    later = Sample(105.0, T0, cpu_seconds=2.5, memory_bytes=0)
    assert cpu_nanocores(earlier, later) == 100_000_000  # 0.5 s of CPU in 5 s: a tenth of a core


def test_cpu_rate_cannot_be_told_without_time_passing_or_when_cpu_time_went_backwards() -> None:
    sample = Sample(100.0, T0, cpu_seconds=2.0, memory_bytes=0)
    assert cpu_nanocores(sample, sample) is None
    assert cpu_nanocores(sample, Sample(105.0, T0, cpu_seconds=1.0, memory_bytes=0)) is None


def _web(pid: int, node: str = "sandbox-node-1") -> ContainerProcess:
    return ContainerProcess("uid-1", "shop", "web-1", {"app": "web"}, node, "app", pid)


def _proc(pid: int, session: int, ticks: int, pages: int) -> ProcessStat:
    return ProcessStat(pid, session, ticks, pages)


def test_tracker_reports_a_pod_from_its_second_sample_summing_its_session() -> None:
    running = [_web(500)]
    tracker = UsageTracker(lambda: running, {"sandbox-node-1": {"a": "b"}, "sandbox-node-2": {}}, agent_pid=10)
    agent = _proc(10, 10, 0, 300)

    tracker.scrape([_proc(500, 500, 100, 1000), agent, _proc(9, 9, 999, 1)], 100.0, T0)
    assert tracker.snapshot().pods == ()

    # The container's process forked a child (same session); another process's CPU does not count.
    later = T0 + dt.timedelta(seconds=5)
    second = [_proc(500, 500, 100 + CLOCK_TICKS // 2, 1000), _proc(501, 500, 0, 24), agent, _proc(9, 9, 5000, 1)]
    tracker.scrape(second, 105.0, later)
    snapshot = tracker.snapshot()

    (pod,) = snapshot.pods
    assert (pod.namespace, pod.name, pod.node, pod.timestamp, pod.window_seconds) == (
        "shop",
        "web-1",
        "sandbox-node-1",
        later,
        5.0,
    )
    (container,) = pod.containers
    assert container.nanocores == 100_000_000
    assert container.memory_bytes == 1024 * PAGE_SIZE
    nodes = {n.name: n for n in snapshot.nodes}
    assert set(nodes) == {"sandbox-node-1", "sandbox-node-2"}
    # Each node carries its pods and an equal share of the agent.
    assert nodes["sandbox-node-2"].memory_bytes == 150 * PAGE_SIZE
    assert nodes["sandbox-node-1"].memory_bytes == 150 * PAGE_SIZE + 1024 * PAGE_SIZE
    assert nodes["sandbox-node-1"].nanocores == 100_000_000


def test_a_restarted_container_starts_its_rate_afresh() -> None:
    running = [_web(500)]
    tracker = UsageTracker(lambda: running, {"sandbox-node-1": {}}, agent_pid=10)
    tracker.scrape([_proc(500, 500, 100, 1)], 100.0, T0)
    tracker.scrape([_proc(500, 500, 200, 1)], 105.0, T0)
    assert len(tracker.snapshot().pods) == 1

    running[0] = _web(600)  # a new process: its CPU time starts at zero, which is no negative rate
    tracker.scrape([_proc(600, 600, 5, 1)], 110.0, T0)
    assert tracker.snapshot().pods == ()
    tracker.scrape([_proc(600, 600, 5 + CLOCK_TICKS, 1)], 115.0, T0)
    assert tracker.snapshot().pods[0].containers[0].nanocores == 200_000_000


def test_tracker_measures_real_cpu_of_a_busy_process() -> None:
    me = os.getpid()
    tracker = UsageTracker(lambda: [ContainerProcess("u", "ns", "me", {}, "n", "c", me)], {"n": {}}, agent_pid=-1)

    def sample() -> None:
        # This process leads no session of its own (a container's process does): count it as if it did.
        mine = [dataclasses.replace(p, session=me) for p in read_processes() if p.pid == me]
        tracker.scrape(mine, time.monotonic(), T0)

    sample()
    until = time.thread_time() + 0.3
    while time.thread_time() < until:
        pass
    sample()

    (pod,) = tracker.snapshot().pods
    assert pod.containers[0].nanocores > 0
    assert pod.containers[0].memory_bytes > 0


def test_only_the_front_proxy_certificate_vouches_for_the_user() -> None:
    front_proxy = {"subject": ((("commonName", "front-proxy-client"),),)}
    someone_else = {"subject": ((("organizationName", "system:masters"),), (("commonName", "sandbox-admin"),))}
    allowed = ("front-proxy-client",)

    assert front_proxy_user(front_proxy, "system:serviceaccount:kube-system:hpa", allowed) == (
        "system:serviceaccount:kube-system:hpa"
    )
    assert front_proxy_user(front_proxy, None, allowed) is None
    assert front_proxy_user(someone_else, "admin", allowed) is None
    assert front_proxy_user(None, "admin", allowed) is None
    assert front_proxy_user({}, "admin", allowed) is None


def test_registration_routes_the_group_to_the_agent_through_an_external_name_service() -> None:
    service, api_service = registration(39523, b"-----BEGIN CERTIFICATE-----\n")

    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "127.0.0.1"
    spec = api_service["spec"]
    assert api_service["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    assert (spec["group"], spec["version"]) == ("metrics.k8s.io", "v1beta1")
    assert spec["service"] == {"name": "sandbox-metrics", "namespace": "kube-system", "port": 39523}
    # Verified against the sandbox CA, not skipped.
    assert spec["caBundle"] and "insecureSkipTLSVerify" not in spec
