"""The cluster of an offline plan: it has a namespace and refuses every call.

An offline plan's steps do not read the cluster (the runner skips those that need it); this stands in so
that a read that slips through fails loudly instead of reaching whatever credentials lie around."""

from __future__ import annotations

from typing import NoReturn

from kubernetes import client

from pipeline_steps.errors import PipelineError
from pipeline_steps.kube.cluster import KubeCluster


class OfflineCluster(KubeCluster):
    def __init__(self, namespace: str) -> None:
        super().__init__(client.ApiClient(), namespace)

    def resource(self, api_version: str, kind: str) -> NoReturn:
        raise PipelineError(f"an offline plan cannot read {kind} from the cluster")
