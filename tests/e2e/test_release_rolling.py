"""Rolling updates on the cluster: within maxSurge/maxUnavailable, and undone by themselves on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace
from tests.support.rollout import RolloutRecorder
from tests.support.traffic import Load, settled_images

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
    # Rolled out is not yet every rule on the nodes: old pods drain in their preStop while kube-proxy follows.
    assert settled_images(public) == {V2}


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
    assert settled_images(public) == {V3}


def test_a_failed_release_that_changed_only_configuration_undoes_only_that(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    """The undo puts back what this run changed (the ConfigMap's data), not "the revision before the current"
    (which would roll production back to a release nobody asked for)."""
    assert workspace.run("--image", V1).code == ExitCode.OK
    assert workspace.run("--image", V2).code == ExitCode.OK  # V2 live, revision 2
    public = cluster.service_url(namespace, "roll")
    with Load(public) as load:
        failed = workspace.run("--image", V2, GREETING="changed", PROD_BODY="an answer never given", PROD_RETRIES="3")
    assert failed.code == ExitCode.ROLLED_BACK, failed
    assert failed.statuses()["deploy"] == "succeeded" and failed.statuses()["verify-prod"] == "rolled-back"
    assert "ConfigMap/roll-settings to its earlier data" in failed.stdout, failed
    assert "revision 1" not in failed.stdout
    deployment = cluster.apps.read_namespaced_deployment("roll", namespace)
    assert deployment.spec.template.spec.containers[0].image == V2
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert cluster.core.read_namespaced_config_map("roll-settings", namespace).data == {"greeting": "hello"}
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {V2}


def _without_pre_stop(workspace: Workspace) -> None:
    """The classic walk-through's manifest: a readiness probe, no preStop hook."""
    manifest = workspace.path / "deploy" / "app.yaml"
    manifest.write_text(
        manifest.read_text().replace("          lifecycle:\n            preStop: {sleep: {seconds: 5}}\n", "")
    )
    assert "preStop" not in manifest.read_text()


def test_a_manifest_without_pre_stop_is_released_losslessly_by_default(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    _without_pre_stop(workspace)
    planned = workspace.cli("run", "-c", str(workspace.config), "--image", V1, "--dry-run")
    assert "preStop:" in planned.stdout and "seconds: 5" in planned.stdout, planned  # the added hook, in the diff
    assert workspace.run("--image", V1).code == ExitCode.OK
    public = cluster.service_url(namespace, "roll")
    with Load(public) as load:
        released = workspace.run("--image", V2)
    assert released.code == ExitCode.OK, released
    assert not load.failures, load.summary()
    container = cluster.apps.read_namespaced_deployment("roll", namespace).spec.template.spec.containers[0]
    assert container.lifecycle.pre_stop.sleep.seconds == 5


def test_without_pre_stop_and_without_drain_a_rolling_release_is_refused_before_anything_changes(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert workspace.run("--image", V1).code == ExitCode.OK
    _without_pre_stop(workspace)
    before = cluster.apps.read_namespaced_deployment("roll", namespace).metadata.resource_version
    refused = workspace.run("--image", V2, PRE_STOP_SLEEP="0")
    assert refused.code == ExitCode.USAGE, refused
    assert "has no preStop hook" in refused.stderr and "lifecycle: {preStop: {sleep:" in refused.stderr
    assert "app.yaml:" in refused.stderr
    assert cluster.apps.read_namespaced_deployment("roll", namespace).metadata.resource_version == before
