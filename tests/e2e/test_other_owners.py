"""Other owners of what a release moves, on the real API server's managedFields: a GitOps controller owning the
public Service's selector is refused before anything changes; objects first made by client-side `kubectl apply`
are taken over once and then released without conflict."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace

V1, V2, V3 = "registry.local/web:v1", "registry.local/web:v2", "registry.local/web:v3"
APPS = Path(__file__).parent / "apps"


def _kubectl(cluster: Cluster, namespace: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _rendered(app: str, image: str) -> str:
    """The app's manifests with ${IMAGE} set and every other variable at its default, as a user would write them."""
    text = (APPS / app / "app.yaml").read_text().replace("${IMAGE}", image)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def _managers(obj: Any) -> list[tuple[str, str]]:
    return [(e.manager, e.operation) for e in obj.metadata.managed_fields if not e.subresource]


def _apply_entry(obj: Any) -> dict[str, Any]:
    [entry] = [e for e in obj.metadata.managed_fields if e.manager == "pipeline-steps" and e.operation == "Apply"]
    return dict(entry.fields_v1)


def test_a_public_selector_owned_by_argo_cd_is_refused_before_anything_changes(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web", "role": "blue"}, "ports": [{"name": "http", "port": 80}]},
    }
    made = _kubectl(cluster, namespace, "apply", "--server-side", "--field-manager=argocd-controller", "-f", "-",
                    stdin=yaml.safe_dump(service))  # fmt: skip
    assert made.returncode == 0, made.stderr
    version = cluster.core.read_namespaced_service("web", namespace).metadata.resource_version
    workspace = Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    result = workspace.run("--image", V1)
    assert result.code == ExitCode.USAGE, result
    assert "Service/web: spec.selector is owned by argocd-controller (Argo CD)" in result.stderr, result
    assert "ignoreDifferences" in result.stderr and "managedFieldsManagers: [pipeline-steps]" in result.stderr
    assert cluster.apps.list_namespaced_deployment(namespace).items == []
    assert cluster.core.read_namespaced_service("web", namespace).metadata.resource_version == version


def test_objects_made_by_client_side_kubectl_apply_are_taken_over_once_and_released_without_conflict(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    made = _kubectl(cluster, namespace, "apply", "-f", "-", stdin=_rendered("rolling", V1))
    assert made.returncode == 0, made.stderr
    before = cluster.apps.read_namespaced_deployment("roll", namespace)
    assert ("kubectl-client-side-apply", "Update") in _managers(before)

    workspace = Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)
    result = workspace.run("--image", V2)
    assert result.code == ExitCode.OK, result
    [deploy] = [step for step in result.json()["steps"] if step["name"] == "deploy"]
    assert "take over the fields of Deployment/roll from kubectl-client-side-apply" in deploy["changes"], deploy
    assert "take over the fields of Service/roll from kubectl-client-side-apply" in deploy["changes"], deploy

    deployment = cluster.apps.read_namespaced_deployment("roll", namespace)
    service = cluster.core.read_namespaced_service("roll", namespace)
    for obj in (deployment, service):
        assert "kubectl-client-side-apply" not in [manager for manager, _ in _managers(obj)], _managers(obj)
    assert "f:replicas" in _apply_entry(deployment)["f:spec"]
    assert "f:selector" in _apply_entry(service)["f:spec"]
    assert deployment.spec.template.spec.containers[0].image == V2
    # The next release applies without forcing: no other owner is left to conflict with.
    again = _kubectl(cluster, namespace, "apply", "--server-side", "--field-manager=pipeline-steps",
                     "--dry-run=server", "-f", "-", stdin=_rendered("rolling", V3))  # fmt: skip
    assert again.returncode == 0, again.stderr
    # A second release has nothing left to take over.
    second = workspace.run("--image", V3)
    assert second.code == ExitCode.OK, second
    [deploy] = [step for step in second.json()["steps"] if step["name"] == "deploy"]
    assert not any(change.startswith("take over") for change in deploy["changes"]), deploy
