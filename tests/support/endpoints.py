"""Records how many ready endpoints a Service has after each change of its EndpointSlices: the data plane's
view of "the public endpoint is never left without ready backends"."""

from __future__ import annotations

import threading
from typing import Any

import urllib3
from kubernetes import watch

from pipeline_steps_sandbox.cluster import Cluster


def _ready(endpoint: Any) -> bool:
    conditions = endpoint.conditions
    return bool(conditions is None or (conditions.ready is not False and not conditions.terminating))


class ReadyEndpointsRecorder:
    def __init__(self, cluster: Cluster, namespace: str, service: str) -> None:
        self.counts: list[int] = []  #: ready endpoints of the Service after each change of its slices
        self._slices: dict[str, int] = {}
        self._watch = watch.Watch()
        self._thread = threading.Thread(
            target=self._follow, args=(cluster, namespace, f"kubernetes.io/service-name={service}"), daemon=True
        )

    def _follow(self, cluster: Cluster, namespace: str, selector: str) -> None:
        try:
            for event in self._watch.stream(
                cluster.discovery.list_namespaced_endpoint_slice, namespace, label_selector=selector
            ):
                found = event["object"]
                if event["type"] == "DELETED":
                    self._slices.pop(found.metadata.name, None)
                else:
                    self._slices[found.metadata.name] = sum(1 for e in found.endpoints or [] if _ready(e))
                self.counts.append(sum(self._slices.values()))
        except urllib3.exceptions.ProtocolError:
            pass  # the stream is cut when the watch is stopped

    def __enter__(self) -> ReadyEndpointsRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()
