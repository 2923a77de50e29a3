"""The real CPU and memory of the node agent's pod processes, sampled from /proc as a kubelet reads cgroups.

Every RESOLUTION seconds the tracker reads /proc/<pid>/stat of every process, adds up utime+stime and
resident pages per session (each container's process leads a session of its own, so whatever it
forks counts with it), and keeps the last two samples of each container. CPU usage is the rate
between them, in nanocores; memory is the later sample's resident set, the sandbox's stand-in for
a cgroup's working set. metrics-server serves the same: the rate over its last two scrapes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_steps_sandbox.metrics_api import ContainerUsage, NodeUsage, PodUsage, Snapshot

log = logging.getLogger(__name__)

#: Seconds between samples: the window the usage is measured over (metrics-server's default is 15 s).
RESOLUTION = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    session: int
    cpu_ticks: int
    rss_pages: int


def parse_stat(text: str) -> ProcessStat:
    """One /proc/<pid>/stat line. The command name sits in parentheses and may itself hold spaces or
    parentheses, so the fields are counted from the last ')'."""
    pid = int(text.split(" ", 1)[0])
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): session is field 6, utime 14, stime 15, rss 24.
    return ProcessStat(
        pid=pid, session=int(fields[3]), cpu_ticks=int(fields[11]) + int(fields[12]), rss_pages=int(fields[21])
    )


def read_processes(proc: Path = PROC) -> list[ProcessStat]:
    found: list[ProcessStat] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found.append(parse_stat((entry / "stat").read_text()))
        except (OSError, ValueError, IndexError):
            continue  # gone between listing and reading, or a kernel thread's odd line
    return found


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU seconds and current resident bytes, at one moment."""

    monotonic: float
    wall: dt.datetime
    cpu_seconds: float
    memory_bytes: int


def cpu_nanocores(earlier: Sample, later: Sample) -> int | None:
    """The CPU rate between two samples, in nanocores; None when it cannot be told (no time passed, or a
    process of the session ended and took its CPU time with it)."""
    elapsed = later.monotonic - earlier.monotonic
    used = later.cpu_seconds - earlier.cpu_seconds
    if elapsed <= 0 or used < 0:
        return None
    return round(used / elapsed * 1e9)


def usage_of(stats: Iterable[ProcessStat], monotonic: float, wall: dt.datetime) -> Sample:
    cpu_ticks = rss_pages = 0
    for stat in stats:
        cpu_ticks += stat.cpu_ticks
        rss_pages += stat.rss_pages
    return Sample(monotonic, wall, cpu_ticks / CLOCK_TICKS, rss_pages * PAGE_SIZE)


@dataclass(frozen=True)
class ContainerProcess:
    """A running container as the agent knows it: which pod, and the process that leads its session."""

    pod_uid: str
    namespace: str
    pod: str
    labels: Mapping[str, str]
    node: str
    container: str
    pid: int


@dataclass
class _Pair:
    earlier: Sample | None = None
    later: Sample | None = None

    def add(self, sample: Sample) -> None:
        self.earlier, self.later = self.later, sample

    def rate(self) -> tuple[int, Sample] | None:
        if self.earlier is None or self.later is None:
            return None
        nanocores = cpu_nanocores(self.earlier, self.later)
        return None if nanocores is None else (nanocores, self.later)


@dataclass
class UsageTracker:
    """Samples the containers `running()` lists, and the agent itself, and turns the last two samples into
    the metrics API's Snapshot."""

    running: Callable[[], list[ContainerProcess]]
    #: Node name -> its labels, for every node the agent keeps.
    nodes: Mapping[str, Mapping[str, str]]
    agent_pid: int = field(default_factory=os.getpid)
    _pairs: dict[tuple[str, str, int], _Pair] = field(default_factory=dict)
    _agent: _Pair = field(default_factory=_Pair)
    _snapshot: Snapshot = field(default_factory=Snapshot)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scrape(self, processes: list[ProcessStat], monotonic: float, wall: dt.datetime) -> None:
        """Take one sample of every container from `processes` (all of /proc at one moment)."""
        by_session: dict[int, list[ProcessStat]] = {}
        for stat in processes:
            by_session.setdefault(stat.session, []).append(stat)
        containers = self.running()
        seen: set[tuple[str, str, int]] = set()
        for container in containers:
            # Keyed by pid too: a restarted container is a new process whose CPU time starts again at zero.
            key = (container.pod_uid, container.container, container.pid)
            if container.pid not in by_session:
                continue
            seen.add(key)
            self._pairs.setdefault(key, _Pair()).add(usage_of(by_session[container.pid], monotonic, wall))
        for gone in set(self._pairs) - seen:
            del self._pairs[gone]
        self._agent.add(usage_of((s for s in processes if s.pid == self.agent_pid), monotonic, wall))
        snapshot = self._summarise(containers)
        with self._lock:
            self._snapshot = snapshot

    def _summarise(self, containers: list[ContainerProcess]) -> Snapshot:
        pods: dict[str, tuple[ContainerProcess, list[ContainerUsage], Sample]] = {}
        for container in containers:
            pair = self._pairs.get((container.pod_uid, container.container, container.pid))
            measured = pair.rate() if pair else None
            if pair is None or measured is None or pair.earlier is None:
                continue
            nanocores, later = measured
            usage = ContainerUsage(container.container, nanocores, later.memory_bytes)
            if container.pod_uid in pods:
                pods[container.pod_uid][1].append(usage)
            else:
                pods[container.pod_uid] = (container, [usage], later)
        window = {uid: self._window(uid, containers) for uid in pods}
        pod_usage = tuple(
            PodUsage(
                namespace=first.namespace,
                name=first.pod,
                labels=dict(first.labels),
                node=first.node,
                timestamp=later.wall,
                window_seconds=window[uid],
                containers=tuple(usages),
            )
            for uid, (first, usages, later) in pods.items()
        )
        return Snapshot(pods=pod_usage, nodes=self._node_usage(pod_usage))

    def _window(self, pod_uid: str, containers: list[ContainerProcess]) -> float:
        pairs = [self._pairs.get((c.pod_uid, c.container, c.pid)) for c in containers if c.pod_uid == pod_uid]
        spans = [p.later.monotonic - p.earlier.monotonic for p in pairs if p and p.earlier and p.later]
        return max(spans, default=0.0)

    def _node_usage(self, pods: tuple[PodUsage, ...]) -> tuple[NodeUsage, ...]:
        """Each node: its pods, plus an equal share of the agent itself, which stands in for every node's kubelet."""
        agent = self._agent.rate()
        if agent is None or self._agent.earlier is None:
            return ()
        agent_nanocores, agent_sample = agent
        share = max(1, len(self.nodes))
        window = agent_sample.monotonic - self._agent.earlier.monotonic
        found = []
        for name, labels in self.nodes.items():
            on_node = [c for p in pods if p.node == name for c in p.containers]
            found.append(
                NodeUsage(
                    name=name,
                    labels=dict(labels),
                    timestamp=agent_sample.wall,
                    window_seconds=window,
                    nanocores=agent_nanocores // share + sum(c.nanocores for c in on_node),
                    memory_bytes=agent_sample.memory_bytes // share + sum(c.memory_bytes for c in on_node),
                )
            )
        return tuple(found)

    def snapshot(self) -> Snapshot:
        with self._lock:
            taken = self._snapshot
        return Snapshot(pods=taken.pods, nodes=taken.nodes)

    def run(self, stop: threading.Event, resolution: float = RESOLUTION) -> None:
        """Sample until `stop` is set; meant for a thread of its own."""
        while not stop.is_set():
            try:
                self.scrape(read_processes(), time.monotonic(), dt.datetime.now(dt.UTC))
            except Exception:
                log.exception("metrics: sampling failed; trying again in %.0fs", resolution)
            stop.wait(resolution)
