"""Rollouts that cannot complete end at once, saying why: pods the API server refuses to create (a quota, Pod
Security admission) and a paused Deployment. Without it each would wait out the rollout timeout (here 90 s), and
the error would name neither the quota nor the pause. Crashing pods, images that cannot be pulled and pods too big
for any node are in test_faults.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Result, Workspace

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"


def _deploy_step(result: Result) -> dict[str, Any]:
    [deploy] = [step for step in result.json()["steps"] if step["name"] == "deploy"]
    return dict(deploy)


@pytest.mark.parametrize(
    ("what", "refusal"),
    [
        ("quota", {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-pods"},
                   "spec": {"hard": {"pods": "0"}}}),
        ("pod security", None),
    ],
)  # fmt: skip
def test_pods_the_api_server_refuses_to_create_fail_deploy_at_once_naming_the_refusal(
    cluster: Cluster, namespace: str, tmp_path: Path, what: str, refusal: dict[str, Any] | None
) -> None:
    workspace = Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    if refusal is not None:
        cluster.apply(namespace, refusal)
    else:
        # The app's pods run as root with no securityContext: the restricted profile refuses them.
        cluster.core.patch_namespace(
            namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
        )
    result = workspace.run("--image", V1)
    assert result.code == ExitCode.FAILED, result
    deploy = _deploy_step(result)
    assert deploy["status"] == "failed", deploy
    assert "rollout failed: deployment web-blue: FailedCreate: " in deploy["error"], deploy
    expected = "exceeded quota: no-pods" if what == "quota" else 'violates PodSecurity "restricted:latest"'
    assert expected in deploy["error"], deploy
    assert "did not complete in" not in deploy["error"], deploy
    assert "switch" not in result.statuses()


def test_a_paused_deployment_fails_the_rollout_at_once_and_is_undone(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)
    assert workspace.run("--image", V1).code == ExitCode.OK
    # Someone paused it (`kubectl rollout pause`): a new template is recorded but never rolled out.
    cluster.apps.patch_namespaced_deployment("roll", namespace, {"spec": {"paused": True}})
    result = workspace.run("--image", V2)
    assert result.code == ExitCode.ROLLED_BACK, result
    deploy = _deploy_step(result)
    assert "deployment roll is paused (spec.paused: true)" in deploy["error"], deploy
    assert "kubectl rollout resume deployment/roll" in deploy["error"], deploy
    assert "did not complete in" not in deploy["error"], deploy
    live = cluster.apps.read_namespaced_deployment("roll", namespace)
    assert live.spec.template.spec.containers[0].image == V1
