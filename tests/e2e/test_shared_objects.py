"""A blue/green release whose manifests hold an object both roles would share is refused before anything
reaches the cluster, and released once the object is listed under bluegreen.shared."""

from __future__ import annotations

from pathlib import Path

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace

V1 = "registry.local/web:v1"
SETTINGS = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata: {greeting: hello}\n"


def test_a_config_map_without_the_role_in_its_name_is_refused_until_listed_as_shared(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    with (workspace.path / "deploy" / "app.yaml").open("a") as manifests:
        manifests.write(SETTINGS)

    refused = workspace.run("--image", V1)
    assert refused.code == ExitCode.USAGE, refused
    assert "ConfigMap/web-settings has the same name for both roles" in refused.stdout + refused.stderr
    assert "shared: [ConfigMap/web-settings]" in refused.stdout + refused.stderr
    # Nothing was applied: no Deployment, Service or ConfigMap of the app.
    assert not cluster.apps.list_namespaced_deployment(namespace).items
    assert not [s for s in cluster.core.list_namespaced_service(namespace).items if s.metadata.name.startswith("web")]
    assert "web-settings" not in {c.metadata.name for c in cluster.core.list_namespaced_config_map(namespace).items}

    config = workspace.config.read_text()
    workspace.config.write_text(
        config.replace("  public_service: web\n", "  public_service: web\n  shared: [ConfigMap/web-settings]\n")
    )
    released = workspace.run("--image", V1)
    assert released.code == ExitCode.OK, released
    settings = cluster.core.read_namespaced_config_map("web-settings", namespace)
    assert settings.data == {"greeting": "hello"}
