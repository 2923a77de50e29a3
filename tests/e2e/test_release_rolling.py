"""Rolling updates on the cluster: within maxSurge/maxUnavailable, and undone by themselves on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace
from tests.support.rollout import RolloutRecorder
from tests.support.traffic import Load, fetch

V1, V2, V3 = "registry.local/roll:v1", "registry.local/roll:v2", "registry.local/roll:v3"
REPLICAS, MAX_SURGE = 3, 1


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)


def test_rolling_release_honours_surge_and_unavailable(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    public = cluster.service_url(namespace, "roll")
    with Load(public) as load, RolloutRecorder(cluster, namespace, "roll") as rollout:
        second = workspace.run("--image", V2)
    assert second.code == ExitCode.OK, second
    assert second.statuses()["deploy"] == "succeeded"
    assert not load.failures, load.summary()
    images = [a.image for a in load.answers]
    assert images[0] == V1 and images[-1] == V2
    assert rollout.requested and rollout.available, "no rollout was observed"
    assert max(rollout.requested) == REPLICAS + MAX_SURGE, rollout.requested
    assert min(rollout.available) >= REPLICAS, rollout.available  # maxUnavailable: 0
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
