"""Container probes as a kubelet runs them: httpGet and tcpSocket, with thresholds and periods.

exec probes have no container to run in; they count as passing, and the agent says so in the log.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PROBE_USER_AGENT_PREFIX = "kube-probe/"


@dataclass
class ProbeOutcome:
    ok: bool
    message: str


def resolve_port(port: Any, container: dict[str, Any]) -> int:
    """A probe's port is a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"port {port!r} is not a port of container {container.get('name')!r}")


def _dial_error(exc: BaseException, address: str) -> str:
    """An OS error worded as Go's net package words it in a kubelet's probe message."""
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(exc, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    return f"dial tcp {address}: {exc}"


def run_probe(
    probe: dict[str, Any], container: dict[str, Any], host: str, kube_version: str, *, shown_as: str | None = None
) -> ProbeOutcome:
    """Run one probe attempt against `host` (the pod's loopback twin); messages name `shown_as` (the pod's IP,
    as the API knows it), as a kubelet's do."""
    shown = shown_as or host
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        spec = probe["httpGet"]
        if (spec.get("scheme") or "HTTP").upper() != "HTTP":
            return ProbeOutcome(False, "the sandbox probes only plain HTTP")
        try:
            port = resolve_port(spec["port"], container)
        except ValueError as exc:
            return ProbeOutcome(False, str(exc))
        headers = {"User-Agent": PROBE_USER_AGENT_PREFIX + kube_version.rsplit(".", 1)[0], "Accept": "*/*"}
        for header in spec.get("httpHeaders") or []:
            headers[header["name"]] = header["value"]
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", spec.get("path") or "/", headers=headers)
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            url = f"http://{shown}:{port}{spec.get('path') or '/'}"
            if isinstance(exc, TimeoutError):
                why = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            elif isinstance(exc, ConnectionRefusedError):
                why = _dial_error(exc, f"{shown}:{port}")
            else:
                why = str(exc) or type(exc).__name__
            return ProbeOutcome(False, f'Get "{url}": {why}')
        finally:
            conn.close()
        if 200 <= status < 400:
            return ProbeOutcome(True, f"HTTP {status}")
        return ProbeOutcome(False, f"HTTP probe failed with statuscode: {status}")
    if "tcpSocket" in probe:
        try:
            port = resolve_port(probe["tcpSocket"]["port"], container)
            with socket.create_connection((host, port), timeout=timeout):
                return ProbeOutcome(True, "connected")
        except ValueError as exc:
            return ProbeOutcome(False, str(exc))
        except OSError as exc:
            return ProbeOutcome(False, _dial_error(exc, f"{shown}:{probe['tcpSocket'].get('port')}"))
    log.info("container %s: exec/grpc probes cannot run in the sandbox; counted as passing", container.get("name"))
    return ProbeOutcome(True, "not run in the sandbox")


@dataclass
class ProbeState:
    """The thresholds of one probe over time, as the kubelet's prober worker keeps them."""

    probe: dict[str, Any]
    #: The result before the first success: readiness starts failing, liveness starts passing.
    result: bool
    started_at: float = field(default_factory=time.monotonic)
    successes: int = 0
    failures: int = 0
    next_due: float = 0.0
    last_message: str = ""

    def __post_init__(self) -> None:
        self.next_due = self.started_at + float(self.probe.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds") or 10)

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def record(self, outcome: ProbeOutcome, now: float) -> bool:
        """Count one attempt; returns True when the probe's result flipped."""
        self.next_due = now + self.period
        self.last_message = outcome.message
        if outcome.ok:
            self.successes += 1
            self.failures = 0
            if not self.result and self.successes >= int(self.probe.get("successThreshold") or 1):
                self.result = True
                return True
        else:
            self.failures += 1
            self.successes = 0
            if self.result and self.failures >= int(self.probe.get("failureThreshold") or 3):
                self.result = False
                return True
        return False
