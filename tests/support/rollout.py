"""Records a Deployment's rollout as the deployment controller drives it, for asserting maxSurge and
maxUnavailable.

maxSurge bounds what the controller asks for: the sum of its ReplicaSets' `spec.replicas`, which every
write keeps within replicas + maxSurge. It does not bound the pods alive at one instant, nor the
Deployment's `status.replicas` (summed from ReplicaSet statuses that lag their pods): a new pod may be
created in the moment before an old one's deletion is written, on any cluster. So the surge is checked
on the ReplicaSets' specs, and availability on the Deployment's status, which the controller itself
decides by.
"""

from __future__ import annotations

import threading
from typing import Any

import urllib3
from kubernetes import watch

from pipeline_steps_sandbox.cluster import Cluster


class RolloutRecorder:
    def __init__(self, cluster: Cluster, namespace: str, deployment: str) -> None:
        self.requested: list[int] = []  #: sum of the ReplicaSets' spec.replicas after each change
        self.available: list[int] = []  #: the Deployment's status.availableReplicas after each change
        self.updated: list[int] = []  #: the Deployment's status.updatedReplicas after each change
        self._specs: dict[str, int] = {}
        self._watches = [watch.Watch(), watch.Watch()]
        self._threads = [
            threading.Thread(
                target=self._follow,
                args=(self._watches[0], cluster.apps.list_namespaced_replica_set, namespace, "", self._on_rs),
                daemon=True,
            ),
            threading.Thread(
                target=self._follow,
                args=(
                    self._watches[1],
                    cluster.apps.list_namespaced_deployment,
                    namespace,
                    f"metadata.name={deployment}",
                    self._on_deployment,
                ),
                daemon=True,
            ),
        ]

    @staticmethod
    def _follow(w: watch.Watch, list_func: Any, namespace: str, field_selector: str, handle: Any) -> None:
        try:
            for event in w.stream(list_func, namespace, field_selector=field_selector):
                handle(event["type"], event["object"])
        except urllib3.exceptions.ProtocolError:
            pass  # the stream is cut when the watch is stopped

    def _on_rs(self, kind: str, rs: Any) -> None:
        if kind == "DELETED":
            self._specs.pop(rs.metadata.name, None)
        else:
            self._specs[rs.metadata.name] = rs.spec.replicas or 0
        self.requested.append(sum(self._specs.values()))

    def _on_deployment(self, _kind: str, deployment: Any) -> None:
        status = deployment.status
        self.available.append(status.available_replicas or 0)
        self.updated.append(status.updated_replicas or 0)

    def __enter__(self) -> RolloutRecorder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._watches:
            w.stop()
