"""Least privilege, proven: a whole release under a ServiceAccount bound only to the Role that
`pipeline-steps rbac` prints, and the same identity refused (403) everywhere else."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace
from tests.support.traffic import settled_images

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"


def token_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount with a bound token, as a CI agent would."""
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    token = cluster.core.create_namespaced_service_account_token(account, namespace, request).status.token
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    ca = (
        server.get("certificate-authority-data")
        or base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"], "certificate-authority-data": ca}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "ci", "context": {"cluster": "c", "user": account, "namespace": namespace}}],
        "current-context": "ci",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def as_identity(kubeconfig: Path) -> client.CoreV1Api:
    from kubernetes import config  # noqa: PLC0415

    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def refused(call: Any) -> int:
    with pytest.raises(ApiException) as raised:
        call()
    return int(raised.value.status)


def test_a_release_runs_under_the_printed_role_and_nothing_more(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    if cluster.external:
        pytest.skip("creates ServiceAccounts and RBAC objects; run on the sandbox")
    admin = Workspace.create(tmp_path / "admin", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    printed = admin.cli("rbac", "-c", str(admin.config), "--service-account", "ci")
    assert printed.code == ExitCode.OK, printed
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "ci"}})
    cluster.apply(namespace, *yaml.safe_load_all(printed.stdout))
    kubeconfig = token_kubeconfig(cluster, namespace, "ci", tmp_path / "ci-kubeconfig")

    ci = Workspace.create(tmp_path / "ci", "bluegreen", kubeconfig, NAMESPACE=namespace)
    first = ci.run("--image", V1)
    assert first.code == ExitCode.OK, first
    second = ci.run("--image", V2)
    assert second.code == ExitCode.OK, second
    assert settled_images(cluster.service_url(namespace, "web")) == {V2}
    rollback = ci.cli("rollback", "-c", str(ci.config))
    assert rollback.code == ExitCode.OK, rollback

    identity = as_identity(kubeconfig)
    other = cluster.create_namespace("t-other")
    try:
        assert refused(lambda: identity.list_namespaced_service(other)) == 403
    finally:
        cluster.delete_namespace(other)
    assert refused(lambda: identity.delete_namespaced_service("web", namespace)) == 403
    assert refused(lambda: identity.list_namespaced_secret(namespace)) == 403
    assert refused(lambda: identity.read_namespaced_secret("anything", namespace)) == 403
