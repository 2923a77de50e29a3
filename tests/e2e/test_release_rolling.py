"""Rolling updates on the cluster: within maxSurge/maxUnavailable, and undone by themselves on failure."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import watch

from pipeline_steps.outcome import ExitCode
from tests.support.cluster import Cluster
from tests.support.release import Workspace
from tests.support.traffic import Load, fetch

V1, V2, V3 = "registry.local/roll:v1", "registry.local/roll:v2", "registry.local/roll:v3"
REPLICAS, MAX_SURGE = 3, 1


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)


class DeploymentWatcher:
    """Records every status the Deployment goes through while a release runs."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(cluster, namespace, name), daemon=True)

    def _run(self, cluster: Cluster, namespace: str, name: str) -> None:
        try:
            for event in self._watch.stream(
                cluster.apps.list_namespaced_deployment, namespace, field_selector=f"metadata.name={name}"
            ):
                status = event["object"].status
                self.statuses.append({"replicas": status.replicas or 0, "available": status.available_replicas or 0})
        except urllib3.exceptions.ProtocolError:
            pass  # the stream is cut when the watch is stopped

    def __enter__(self) -> DeploymentWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()


def test_rolling_release_honours_surge_and_unavailable(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    public = cluster.service_url(namespace, "roll")
    with Load(public) as load, DeploymentWatcher(cluster, namespace, "roll") as seen:
        second = workspace.run("--image", V2)
    assert second.code == ExitCode.OK, second
    assert second.statuses()["deploy"] == "succeeded"
    assert not load.failures, load.summary()
    images = [a.image for a in load.answers]
    assert images[0] == V1 and images[-1] == V2
    assert seen.statuses, "the watch saw no status"
    assert max(s["replicas"] for s in seen.statuses) <= REPLICAS + MAX_SURGE
    assert min(s["available"] for s in seen.statuses) >= REPLICAS  # maxUnavailable: 0
    assert {fetch(public).image for _ in range(10)} == {V2}


def test_release_that_never_gets_ready_is_undone_and_public_keeps_serving(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert workspace.run("--image", V1).code == ExitCode.OK
    public = cluster.service_url(namespace, "roll")
    with Load(public) as load:
        failed = workspace.run("--image", V2, APP_READY="false", PROGRESS_DEADLINE="6")
    assert failed.code == ExitCode.ROLLED_BACK, failed
    assert failed.statuses()["deploy"] == "rolled-back"
    assert "undone" in failed.stdout
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {V1}
    deployment = cluster.apps.read_namespaced_deployment("roll", namespace)
    assert deployment.spec.template.spec.containers[0].image == V1
    cluster.wait_deployment_available(namespace, "roll")
    # The next good release goes out as usual.
    again = workspace.run("--image", V3)
    assert again.code == ExitCode.OK, again
    assert {fetch(public).image for _ in range(10)} == {V3}
