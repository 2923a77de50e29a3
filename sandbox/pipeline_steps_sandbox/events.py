"""Events about one pod, recorded as a kubelet's event recorder does: an event that repeats (the same reason
and message, e.g. a readiness probe failing every period) is one Event object whose `count` and
`lastTimestamp` go up, not a new object each time."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.containers import API_TIMEOUT, now_rfc3339

log = logging.getLogger(__name__)

#: A repeat is written at most this often per event (the kubelet's correlator throttles too); the count
#: catches up with the next write.
REPEAT_WRITE_EVERY_S = 2.0


@dataclass
class _Sent:
    name: str
    count: int
    written_at: float


class PodEvents:
    """Records the events of one pod, as the kubelet on `node_name` would."""

    def __init__(self, core: client.CoreV1Api, pod: dict[str, Any], node_name: str) -> None:
        self.core = core
        meta = pod["metadata"]
        self.namespace, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.node_name = node_name
        self._sent: dict[tuple[str, str, str], _Sent] = {}

    def record(self, reason: str, message: str, kind: str = "Normal") -> None:
        key = (kind, reason, message)
        sent = self._sent.get(key)
        now = time.monotonic()
        try:
            if sent is None:
                self._sent[key] = _Sent(self._create(reason, message, kind), 1, now)
                return
            sent.count += 1
            if now - sent.written_at < REPEAT_WRITE_EVERY_S:
                return
            stamp = now_rfc3339()
            self.core.patch_namespaced_event(
                sent.name,
                self.namespace,
                {"count": sent.count, "lastTimestamp": stamp},
                _request_timeout=API_TIMEOUT,
                _content_type="application/merge-patch+json",
            )
            sent.written_at = now
        except ApiException as exc:
            if exc.status == 404:  # expired meanwhile: the next repeat starts a new one
                self._sent.pop(key, None)
            log.debug("pod %s/%s: event %s not recorded: %s", self.namespace, self.name, reason, exc.status)
        except Exception:
            # An event is best effort for a kubelet too (the API server may be down); the next repeat tries again.
            log.debug("pod %s/%s: event %s not recorded", self.namespace, self.name, reason, exc_info=True)

    def _create(self, reason: str, message: str, kind: str) -> str:
        now = now_rfc3339()
        body = {
            # Named as client-go's recorder names them: the object's name and the time in hex.
            "metadata": {"name": f"{self.name}.{time.time_ns():x}", "namespace": self.namespace},
            "involvedObject": {
                "kind": "Pod",
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        created = self.core.create_namespaced_event(self.namespace, body, _request_timeout=API_TIMEOUT)
        return str(created.metadata.name)
