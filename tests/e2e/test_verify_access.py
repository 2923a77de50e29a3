"""Verify reaches the Services it checks however they are exposed: ClusterIP Services (unreachable from this
machine, as from a CI agent outside a real cluster) through the apiserver's service proxy or a port forward, an
explicit URL, and a clear refusal where a mode cannot work (cluster DNS outside the cluster)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.e2e.test_least_privilege import token_kubeconfig
from tests.support.release import Result, Workspace
from tests.support.traffic import settled_images

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
R1, R2 = "registry.local/roll:v1", "registry.local/roll:v2"


def checks(result: Result, step: str) -> list[dict[str, Any]]:
    found = [s for s in result.json()["steps"] if s["name"] == step]
    assert found, result
    return list(found[0].get("checks") or [])


def unreachable(cluster: Cluster, namespace: str, name: str) -> bool:
    """The Service's ClusterIP refuses a connection from this machine: only the cluster reaches it."""
    ip = cluster.core.read_namespaced_service(name, namespace).spec.cluster_ip
    try:
        socket.create_connection((ip, 80), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.fixture
def bluegreen(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(
        tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace, TEST_SERVICE_TYPE="ClusterIP"
    )


@pytest.fixture
def rolling(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)


def test_clusterip_test_services_are_verified_through_the_apiserver_proxy_by_default(
    cluster: Cluster, namespace: str, bluegreen: Workspace
) -> None:
    first = bluegreen.run("--image", V1)
    assert first.code == ExitCode.OK, first
    assert unreachable(cluster, namespace, "web-test-blue")
    [staged] = checks(first, "verify-staged")
    assert staged["passed"], first
    assert f"/api/v1/namespaces/{namespace}/services/web-test-blue:http/proxy/" in staged["target"], staged
    assert "through the apiserver proxy" in first.stderr

    second = bluegreen.run("--image", V2)
    assert second.code == ExitCode.OK, second
    [staged] = checks(second, "verify-staged")
    assert "/services/web-test-green:http/proxy/" in staged["target"], staged
    assert settled_images(cluster.service_url(namespace, "web")) == {V2}


def test_clusterip_test_services_are_verified_through_a_port_forward(
    cluster: Cluster, namespace: str, bluegreen: Workspace
) -> None:
    first = bluegreen.run("--image", V1, STAGED_ACCESS="port-forward")
    assert first.code == ExitCode.OK, first
    [staged] = checks(first, "verify-staged")
    assert staged["passed"] and staged["target"].startswith("http://127.0.0.1:"), staged
    assert "through a port forward" in first.stderr
    assert unreachable(cluster, namespace, "web-test-blue")


def test_a_rolling_release_with_a_clusterip_public_service_verifies_prod_and_undoes_a_failure(
    cluster: Cluster, namespace: str, rolling: Workspace
) -> None:
    first = rolling.run("--image", R1, SERVICE_TYPE="ClusterIP")
    assert first.code == ExitCode.OK, first
    assert unreachable(cluster, namespace, "roll")
    [prod] = checks(first, "verify-prod")
    assert "/services/roll:http/proxy/" in prod["target"] and prod["passed"], prod

    failed = rolling.run("--image", R2, SERVICE_TYPE="ClusterIP", PROD_BODY="an answer never given", PROD_RETRIES="3")
    assert failed.code == ExitCode.ROLLED_BACK, failed
    assert failed.statuses()["verify-prod"] == "rolled-back", failed
    [prod] = checks(failed, "verify-prod")
    assert "/services/roll:http/proxy/" in prod["target"] and "does not match" in prod["detail"], prod
    cluster.wait_deployment_available(namespace, "roll")
    deployment = cluster.apps.read_namespaced_deployment("roll", namespace)
    assert deployment.spec.template.spec.containers[0].image == R1


def test_url_mode_sends_the_checks_to_the_given_address(cluster: Cluster, namespace: str, rolling: Workspace) -> None:
    assert rolling.run("--image", R1).code == ExitCode.OK
    address = cluster.service_url(namespace, "roll")
    released = rolling.run("--image", R2, PROD_URL=address + "/")
    assert released.code == ExitCode.OK, released
    [prod] = checks(released, "verify-prod")
    assert prod["target"] == address + "/" and prod["passed"], prod

    nowhere = rolling.run("--image", R1, PROD_URL="http://127.0.0.1:9/", PROD_RETRIES="3")
    assert nowhere.code == ExitCode.ROLLED_BACK, nowhere
    [prod] = checks(nowhere, "verify-prod")
    assert prod["target"] == "http://127.0.0.1:9/" and "connection refused" in prod["detail"], prod


def test_cluster_dns_outside_the_cluster_is_refused_naming_the_setting_and_the_fix(
    namespace: str, bluegreen: Workspace
) -> None:
    refused = bluegreen.run("--image", V1, STAGED_ACCESS="cluster-dns")
    assert refused.code == ExitCode.USAGE, refused
    message = refused.stderr
    assert "access.staged.mode" in message and f"web-test-blue.{namespace}.svc does not resolve here" in message
    assert "works only on a runner inside the cluster" in message and "mode: apiserver-proxy" in message, message


def test_the_printed_role_allows_the_apiserver_proxy_and_without_it_the_setting_is_named(
    cluster: Cluster, namespace: str, bluegreen: Workspace, tmp_path: Path
) -> None:
    if cluster.external:
        pytest.skip("creates ServiceAccounts and RBAC objects; run on the sandbox")
    printed = bluegreen.cli("rbac", "-c", str(bluegreen.config), "--service-account", "ci")
    assert printed.code == ExitCode.OK, printed
    objects = list(yaml.safe_load_all(printed.stdout))
    rules = objects[0]["rules"]
    assert {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]} in rules
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "ci"}})
    cluster.apply(namespace, *objects)
    kubeconfig = token_kubeconfig(cluster, namespace, "ci", tmp_path / "ci-kubeconfig")
    ci = Workspace(bluegreen.path, kubeconfig, bluegreen.env)
    released = ci.run("--image", V1)
    assert released.code == ExitCode.OK, released

    objects[0]["rules"] = [r for r in rules if r["resources"] != ["services/proxy"]]
    cluster.apply(namespace, objects[0])
    refused = ci.run("--image", V2)
    assert refused.code != ExitCode.OK, refused
    assert "access.staged.mode" in refused.stderr and "may not get services/proxy" in refused.stderr, refused
    assert "pipeline-steps rbac" in refused.stderr
