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

RESTART_BACKOFF_FIRST = 2.0
RESTART_BACKOFF_MAX = 60.0
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
