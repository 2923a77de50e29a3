"""Blue/green releases on the cluster, judged by what users of the public endpoint see."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace
from tests.support.traffic import Load, served_images, settled_images

V1, V2, V3 = "registry.local/web:v1", "registry.local/web:v2", "registry.local/web:v3"


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


def _selector(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict(cluster.core.read_namespaced_service("web", namespace).spec.selector)


def _versions(cluster: Cluster, namespace: str) -> dict[str, str]:
    """resourceVersion of every object a release touches: equal before and after means nothing changed."""
    found = {}
    for d in cluster.apps.list_namespaced_deployment(namespace).items:
        found[f"Deployment/{d.metadata.name}"] = d.metadata.resource_version
    for s in cluster.core.list_namespaced_service(namespace).items:
        found[f"Service/{s.metadata.name}"] = s.metadata.resource_version
    for c in cluster.core.list_namespaced_config_map(namespace).items:
        found[f"ConfigMap/{c.metadata.name}"] = c.metadata.resource_version
    return found


def _state_file(workspace: Workspace) -> Path:
    """The state file of the app's run: keyed by cluster, namespace and app under .pipeline-steps/state."""
    [path] = (workspace.path / ".pipeline-steps" / "state").rglob("web.json")
    return path


def _release(workspace: Workspace, image: str, *args: str, **env: str) -> Any:
    result = workspace.run("--image", image, *args, **env)
    return result


def test_first_release_then_blue_green_switch_moves_traffic(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    first = _release(workspace, V1)
    assert first.code == ExitCode.OK, first
    assert _selector(cluster, namespace)["role"] == "blue"
    public = cluster.service_url(namespace, "web")
    assert served_images(public) == {V1}

    # Stage v2 on the idle role: the public endpoint still serves only v1, the test endpoint v2.
    staged = _release(workspace, V2, "--to", "verify-staged")
    assert staged.code == ExitCode.OK, staged
    assert staged.json()["facts"]["target_role"] == "green"
    assert served_images(public) == {V1}
    assert served_images(cluster.service_url(namespace, "web-test-green")) == {V2}

    with Load(public) as load:
        switched = workspace.run("--image", V2, "--from", "confirm")
    assert switched.code == ExitCode.OK, switched
    assert switched.statuses()["switch"] == "succeeded"
    assert _selector(cluster, namespace)["role"] == "green"
    assert settled_images(public) == {V2}
    assert not load.failures, load.summary()
    # Once the switch reported done, no answer came from the old release.
    images = [a.image for a in load.answers]
    assert images[0] == V1 and images[-1] == V2
    last_v1 = max(i for i, image in enumerate(images) if image == V1)
    assert all(image == V2 for image in images[last_v1 + 1 :])

    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations
    assert annotations["pipeline-steps.dev/active-role"] == "green"
    assert annotations["pipeline-steps.dev/previous-role"] == "blue"
    assert annotations["pipeline-steps.dev/image"] == V2


def test_second_identical_release_changes_nothing(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    before = _versions(cluster, namespace)
    again = _release(workspace, V1)
    assert again.code == ExitCode.OK, again
    assert set(again.statuses().values()) <= {"unchanged", "succeeded"}
    assert again.statuses()["deploy"] == "unchanged"
    assert again.statuses()["switch"] == "unchanged"
    assert _versions(cluster, namespace) == before


def test_failing_prod_check_switches_back_by_itself(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    public = cluster.service_url(namespace, "web")
    with Load(public) as load:
        # As a GitHub step runs it: workflow commands must leave stdout to the JSON the next step reads.
        failed = _release(
            workspace,
            V2,
            PROD_BODY="an answer this release never gives",
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(workspace.path / "github-output"),
            GITHUB_STEP_SUMMARY=str(workspace.path / "github-summary.md"),
        )
    assert failed.code == ExitCode.ROLLED_BACK, failed
    assert failed.statuses()["verify-prod"] == "rolled-back"  # stdout is the JSON report, whole
    assert "::error" in failed.stderr and "::error" not in failed.stdout
    assert "switched public traffic back to role blue" in failed.stdout
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(public) == {V1}
    assert not load.failures, load.summary()


def test_a_switch_whose_endpoints_never_follow_goes_back_by_itself(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    public = cluster.service_url(namespace, "web")
    # An EndpointSlice for the public Service that nothing but this test manages: its endpoint belongs to
    # no role, so the Service's endpoints never list only the new role's pods. It is not ready, so no
    # traffic goes to it.
    stray = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-stray",
            "labels": {
                "kubernetes.io/service-name": "web",
                "endpointslice.kubernetes.io/managed-by": "tests.pipeline-steps.dev",
            },
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.254.254.254"],
                "conditions": {"ready": False},
                "targetRef": {"kind": "Pod", "name": "stray", "namespace": namespace},
            }
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }
    cluster.apply(namespace, stray)
    with Load(public) as load:
        failed = _release(workspace, V2, SWITCH_TIMEOUT="3s")
    assert failed.code == ExitCode.ROLLED_BACK, failed
    assert failed.statuses()["switch"] == "rolled-back"
    assert "endpoints did not follow" in failed.stdout
    assert "switched public traffic back to role blue" in failed.stdout
    assert "verify-prod" not in failed.statuses()
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(public) == {V1}
    assert not load.failures, load.summary()


def test_dry_run_plans_and_changes_nothing(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    before = _versions(cluster, namespace)
    planned = workspace.cli("run", "-c", str(workspace.config), "--image", V2, "--dry-run")
    assert planned.code == ExitCode.OK, planned
    assert _versions(cluster, namespace) == before
    # The plan shows what would change, as a diff, and the switch it would make.
    assert "planned" in planned.stdout
    assert f"+        image: {V2}" in planned.stdout
    assert "role: blue -> green" in planned.stdout
    assert not _state_file(workspace).read_text().count(V2)


def test_stage_by_stage_gives_the_same_release(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    """As CI stages run it: one `step` per process, chained only by the state file."""
    assert _release(workspace, V1).code == ExitCode.OK
    env = {"PIPELINE_STEPS_RUN_ID": "build-42", "PIPELINE_STEPS_IMAGE": V2}
    for name in ("pre-clean", "prepare-image", "check-env", "deploy", "verify-staged", "confirm", "switch",
                 "verify-prod", "post-clean"):  # fmt: skip
        result = workspace.step(name, **env)
        assert result.code == ExitCode.OK, f"{name}: {result}"
    assert _selector(cluster, namespace)["role"] == "green"
    public = cluster.service_url(namespace, "web")
    assert settled_images(public) == {V2}
    state = json.loads(_state_file(workspace).read_text())
    assert state["run_id"] == "build-42"
    assert state["facts"]["previous_role"] == "blue"
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations
    assert annotations["pipeline-steps.dev/run-id"] == "build-42"


def _lock_holder(cluster: Cluster, namespace: str) -> str | None:
    leases = cluster.coordination.list_namespaced_lease(namespace).items
    held = [lease.spec.holder_identity for lease in leases if lease.metadata.name == "pipeline-steps-web"]
    return held[0] if held else None


def test_a_second_run_cannot_interleave_with_a_release_in_progress(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    assert _lock_holder(cluster, namespace) is None, "a finished release gives its lock back"

    # Build 1 deploys v2 and stops at confirm, where a CI gate decides: it keeps the lock meanwhile.
    first = workspace.run("--image", V2, "--to", "confirm", CONFIRM_MODE="jenkins", PIPELINE_STEPS_RUN_ID="build-1")
    assert first.code == ExitCode.AWAITING_APPROVAL, first
    assert _lock_holder(cluster, namespace) == "build-1"

    # Build 2, from another workspace (another CI system, say), is refused before it changes anything.
    other = Workspace.create(workspace.path.parent / "other", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    before = _versions(cluster, namespace)
    second = other.run("--image", V3, PIPELINE_STEPS_RUN_ID="build-2")
    assert second.code == ExitCode.FAILED, second
    assert second.statuses()["deploy"] == "failed"
    assert "run build-1 is releasing web" in second.stderr
    assert _versions(cluster, namespace) == before
    assert _lock_holder(cluster, namespace) == "build-1"
    # Only the holder (or --force) gives the lock back.
    refused = other.cli("unlock", "-c", str(other.config), "--run-id", "build-2")
    assert refused.code == ExitCode.FAILED, refused
    assert "held by run build-1, not by run build-2" in refused.stderr
    assert _lock_holder(cluster, namespace) == "build-1"

    # Build 1 goes on after its gate, switches, and gives the lock back; then build 2 may release.
    rest = workspace.run("--image", V2, "--from", "switch", PIPELINE_STEPS_RUN_ID="build-1")
    assert rest.code == ExitCode.OK, rest
    assert _selector(cluster, namespace)["role"] == "green"
    assert _lock_holder(cluster, namespace) is None
    assert other.run("--image", V3, PIPELINE_STEPS_RUN_ID="build-2").code == ExitCode.OK
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(cluster.service_url(namespace, "web")) == {V3}


def test_a_run_whose_gate_said_no_gives_back_the_lock_and_cannot_switch_later(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    staged = workspace.run("--image", V2, "--to", "confirm", CONFIRM_MODE="jenkins", PIPELINE_STEPS_RUN_ID="build-1")
    assert staged.code == ExitCode.AWAITING_APPROVAL, staged
    # The CI gate aborted build 1: its post step gives the lock back.
    unlocked = workspace.cli("unlock", "-c", str(workspace.config), "--run-id", "build-1", "--output", "json")
    assert unlocked.code == ExitCode.OK, unlocked
    assert unlocked.json()["unlocked"] is True
    assert _lock_holder(cluster, namespace) is None

    other = Workspace.create(workspace.path.parent / "other", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    assert other.run("--image", V3, PIPELINE_STEPS_RUN_ID="build-2").code == ExitCode.OK
    public = cluster.service_url(namespace, "web")
    assert settled_images(public) == {V3}
    # Build 1 resumed by mistake: the role it staged now runs build 2's release, so it does not switch.
    late = workspace.run("--image", V2, "--from", "switch", PIPELINE_STEPS_RUN_ID="build-1")
    assert late.code == ExitCode.FAILED, late
    assert "not this run's registry.local/web:v2" in late.stderr
    assert _selector(cluster, namespace)["role"] == "green"
    assert settled_images(public) == {V3}


def test_rollback_command_and_scale_down_policy(cluster: Cluster, namespace: str, workspace: Workspace) -> None:
    assert _release(workspace, V1).code == ExitCode.OK
    assert _release(workspace, V2).code == ExitCode.OK
    public = cluster.service_url(namespace, "web")
    rollback = workspace.cli("rollback", "-c", str(workspace.config))
    assert rollback.code == ExitCode.OK, rollback
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(public) == {V1}

    released = _release(workspace, V3, POST_CLEAN="scale-down")
    assert released.code == ExitCode.OK, released
    assert _selector(cluster, namespace)["role"] == "green"
    assert cluster.apps.read_namespaced_deployment("web-blue", namespace).spec.replicas == 0
    status = workspace.cli("status", "-c", str(workspace.config), "--output", "json")
    assert status.code == ExitCode.OK, status
    shown = status.json()
    assert shown["active_role"] == "green"
    assert shown["roles"]["green"]["deployments"]["web-green"]["images"] == [V3]
    # Another run inside switch: a rollback (which takes no lock) would race it for the selector.
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "pipeline-steps-web", "annotations": {"pipeline-steps.dev/step": "switch"}},
        "spec": {"holderIdentity": "another-run", "leaseDurationSeconds": 600, "renewTime": now, "acquireTime": now},
    }
    cluster.apply(namespace, lease)
    racing = workspace.cli("rollback", "-c", str(workspace.config))
    assert racing.code == ExitCode.FAILED, racing
    assert "run another-run is in switch of web" in racing.stderr and "--force" in racing.stderr
    assert _selector(cluster, namespace)["role"] == "green"
    cluster.coordination.delete_namespaced_lease("pipeline-steps-web", namespace)
    # Rolling back to a scaled-down role would leave the public endpoint without backends: refused.
    refused = workspace.cli("rollback", "-c", str(workspace.config))
    assert refused.code == ExitCode.FAILED, refused
    assert "not fully available" in refused.stderr
    assert _selector(cluster, namespace)["role"] == "green"


def test_bad_config_is_a_usage_error_naming_file_and_line(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    manifest = workspace.path / "deploy" / "app.yaml"
    manifest.write_text(manifest.read_text().replace("${IMAGE}", "${IMAGE_TYPO}"))
    result = _release(workspace, V1)
    assert result.code == ExitCode.USAGE, result
    assert "app.yaml:" in result.stderr and "IMAGE_TYPO" in result.stderr
    assert cluster.apps.list_namespaced_deployment(namespace).items == []


def test_a_public_service_name_in_neither_manifests_nor_cluster_is_refused_with_a_suggestion(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    workspace.config.write_text(workspace.config.read_text().replace("public_service: web", "public_service: wbe"))
    result = _release(workspace, V1)
    assert result.code == ExitCode.USAGE, result
    assert "Service wbe is neither in the cluster nor in the manifests; did you mean web?" in result.stderr
    assert "bluegreen.public_service" in result.stderr
    assert cluster.apps.list_namespaced_deployment(namespace).items == []
    assert cluster.core.list_namespaced_service(namespace).items == []


def test_switch_refuses_a_role_that_is_not_fully_available_and_public_stays(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    """Guarantee: never switch to a role that is not fully available. Between verify-staged and switch (a CI
    gate can take hours) the idle role breaks: switch refuses, the public Service never moves."""
    assert _release(workspace, V1).code == ExitCode.OK
    env = {"PIPELINE_STEPS_RUN_ID": "build-7", "PIPELINE_STEPS_IMAGE": V2}
    for name in ("pre-clean", "prepare-image", "check-env", "deploy", "verify-staged", "confirm"):
        assert workspace.step(name, **env).code == ExitCode.OK, name
    public = cluster.service_url(namespace, "web")
    # The green role's pods stop being ready (a new template whose pods never pass their probe).
    cluster.apps.patch_namespaced_deployment(
        "web-green",
        namespace,
        {"spec": {"template": {"metadata": {"annotations": {"broken": "yes"}}, "spec": {"containers": [
            {"name": "app", "env": [{"name": "SANDBOX_READY", "value": "false"}]}
        ]}}}},
    )  # fmt: skip
    with Load(public) as load:
        refused = workspace.step("switch", **env)
    assert refused.code == ExitCode.FAILED, refused
    assert "not fully available; refusing to switch" in refused.stdout
    assert _selector(cluster, namespace)["role"] == "blue"
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {V1}
