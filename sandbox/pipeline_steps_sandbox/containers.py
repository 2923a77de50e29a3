"""A pod's containers on a sandbox node: their processes, env, probes and preStop hooks."""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from pipeline_steps_sandbox.probes import ProbeState

if TYPE_CHECKING:
    from pipeline_steps_sandbox.pod_network import PodNetworks

log = logging.getLogger(__name__)

#: Back-off before a crashed container starts again, and before the next pull of an image that failed: a
#: kubelet waits 10 s, doubling to 5 min; the sandbox keeps the shape at a test's pace.
RESTART_BACKOFF_FIRST = 2.0
RESTART_BACKOFF_MAX = 60.0
#: (connect, read) seconds of the agent's API requests: a frozen API server must not stop its pods' probes.
API_TIMEOUT = (5.0, 10.0)
#: How long a container that uses more memory than its limit runs before the OOM killer ends it.
OOM_AFTER_S = 0.5
#: The container env that says how much memory its process uses (the pod process itself allocates nothing).
MEMORY_USE_ENV = "SANDBOX_MEMORY_USE"
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_FACTORS = {
    None: 1,
    "m": 0.001,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
#: The kubelet's one-off extension when a preStop hook has eaten the whole grace period.
PRESTOP_OVERRUN_GRACE = 2.0
_SLEEP_COMMAND = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*$")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NodeContext:
    """What a pod runner needs of its node and agent."""

    api: client.ApiClient
    node_name: str
    host_ip: str
    sandbox_root: Path
    pod_logs: Path
    kube_version: str
    #: Pods in network namespaces of their own (the kube-proxy data plane); None: loopback twins.
    pod_network: PodNetworks | None = None


def prestop_seconds(container: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """How long the container's preStop hook sleeps, and its httpGet action if it has one.

    Sandbox containers have no filesystem to exec in, so an exec hook counts only when it is a
    plain `sleep N`, which is what nearly every real preStop hook is.
    """
    hook = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in hook:
        return float(hook["sleep"].get("seconds") or 0), None
    if "httpGet" in hook:
        return 0.0, hook["httpGet"]
    command = (hook.get("exec") or {}).get("command") or []
    if command:
        text = command[-1] if command[0] in ("sh", "/bin/sh", "bash", "/bin/bash") else " ".join(command)
        match = _SLEEP_COMMAND.match(text.removeprefix("/bin/"))
        if match:
            return float(match.group(1)), None
        log.info("container %s: preStop exec %r cannot run in the sandbox; skipped", container.get("name"), command)
    return 0.0, None


def memory_bytes(quantity: object) -> float | None:
    """A Kubernetes memory quantity ("128Mi", "1G", "500000") in bytes; None when it does not parse."""
    match = _QUANTITY.match(str(quantity).strip()) if quantity is not None else None
    if match is None:
        return None
    return float(match.group(1)) * _FACTORS[match.group(2)]


def out_of_memory(container: dict[str, Any], env: dict[str, str]) -> bool:
    """The container declares (by SANDBOX_MEMORY_USE) more memory than its `resources.limits.memory`."""
    limit = memory_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))
    use = memory_bytes(env.get(MEMORY_USE_ENV))
    return limit is not None and use is not None and use > limit


def container_env(container: dict[str, Any], pod: dict[str, Any], pod_ip: str) -> dict[str, str]:
    """The container's env as the pod spec declares it; fieldRef is resolved, other sources are not."""
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"].get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": pod_ip,
    }
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif field_ref := (item.get("valueFrom") or {}).get("fieldRef"):
            env[item["name"]] = fields.get(field_ref.get("fieldPath", ""), "")
    return env


@dataclass
class ContainerRun:
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    restart_count: int = 0
    last_exit: dict[str, Any] | None = None
    restart_at: float = 0.0
    backoff: float = RESTART_BACKOFF_FIRST
    #: The next start waits out a back-off (CrashLoopBackOff), rather than following a first crash at once.
    backing_off: bool = False
    #: The process has been started at least once (until then the pod is Pending).
    ever_started: bool = False
    #: An image that cannot be pulled: the waiting reason and message, and when the next pull is due.
    pull_waiting: tuple[str, str] | None = None
    pull_failed_at: float = 0.0
    pull_retry_at: float = 0.0
    #: When the OOM killer ends this run of the process (0: it fits its memory limit).
    oom_at: float = 0.0
    readiness: ProbeState | None = None
    liveness: ProbeState | None = None
    startup: ProbeState | None = None
    probe_wakeups: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def started(self) -> bool:
        return self.running and (self.startup is None or self.startup.result)

    @property
    def ready(self) -> bool:
        if not self.started:
            return False
        return self.readiness is None or self.readiness.result
