"""The switch's endpoint wait while pods come and go: it judges each endpoint by its pod's role label as
the pod is now, so a pod created during the wait (an HPA scale-up, an eviction's replacement) neither holds
the switch forever nor counts as serving before it is ready.

An EndpointSlice that only the test manages, with an endpoint of the old role, holds the wait open (as
slices that lag behind would) until the test has changed the target role's pods; then the test removes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.live_run import LiveRun
from tests.support.release import Workspace

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
CONTROLLER = "endpointslice-controller.k8s.io"


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


def _hold_open(cluster: Cluster, namespace: str) -> None:
    """A slice of the public Service listing a pod of the old role (blue), not ready: no traffic goes to it,
    and while it is there the switch to green is not done."""
    blue = cluster.pods(namespace, "app=web,role=blue")[0]
    cluster.apply(
        namespace,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-lagging",
                "labels": {
                    "kubernetes.io/service-name": "web",
                    "endpointslice.kubernetes.io/managed-by": "tests.pipeline-steps.dev",
                },
            },
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": [blue.status.pod_ip],
                    "conditions": {"ready": False},
                    "targetRef": {"kind": "Pod", "name": blue.metadata.name, "namespace": namespace},
                }
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
    )


def _release_hold(cluster: Cluster, namespace: str) -> None:
    cluster.discovery.delete_namespaced_endpoint_slice("web-lagging", namespace)


def _wait_controller_slice(cluster: Cluster, namespace: str, what: str, holds: Any) -> None:
    """Until the endpoint controller's slice of the public Service shows `holds(endpoints)`."""

    def controller_slice(found: Any) -> bool:
        labels = found.metadata.labels or {}
        return labels.get("endpointslice.kubernetes.io/managed-by") == CONTROLLER and holds(found.endpoints or [])

    cluster.wait_for(
        what,
        cluster.discovery.list_namespaced_endpoint_slice,
        controller_slice,
        timeout=90,
        namespace=namespace,
        label_selector="kubernetes.io/service-name=web",
    )


def _green(endpoints: list[Any]) -> list[Any]:
    return [e for e in endpoints if e.target_ref and e.target_ref.name.startswith("web-green")]


def test_a_pod_the_target_role_gains_during_the_wait_does_not_hold_the_switch(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    assert workspace.run("--image", V1).code == ExitCode.OK
    _hold_open(cluster, namespace)
    with LiveRun(workspace, "--image", V2, "--to", "switch") as run:
        run.until("waiting for endpoints")
        # The HPA's move, say: one more green pod, created after the switch began.
        cluster.apps.patch_namespaced_deployment_scale("web-green", namespace, {"spec": {"replicas": 3}})
        _wait_controller_slice(
            cluster,
            namespace,
            "three ready green endpoints",
            lambda endpoints: sum(1 for e in _green(endpoints) if e.conditions.ready) == 3,
        )
        run.until("service web: 3 ready endpoints of role green, 1 of other roles")
        _release_hold(cluster, namespace)
        result = run.finish()
    assert result.code == ExitCode.OK, result
    assert result.statuses()["switch"] == "succeeded"
    assert "service web: 3 ready endpoints of role green, 0 of other roles" in result.stderr
    assert cluster.core.read_namespaced_service("web", namespace).spec.selector["role"] == "green"


def test_with_publish_not_ready_addresses_an_unready_target_pod_does_not_count(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    manifests = workspace.path / "deploy" / "app.yaml"
    text = manifests.read_text()
    public = "  name: web\nspec:\n  type: LoadBalancer\n"
    assert public in text
    manifests.write_text(text.replace(public, public + "  publishNotReadyAddresses: true\n"))
    assert workspace.run("--image", V1).code == ExitCode.OK
    assert cluster.core.read_namespaced_service("web", namespace).spec.publish_not_ready_addresses is True
    _hold_open(cluster, namespace)
    with LiveRun(workspace, "--image", V2, "--to", "switch") as run:
        run.until("waiting for endpoints")
        # Green's pods go (evicted, a node drained) and a green pod that is not ready is all there is: the
        # endpoint controller still marks it ready, as it does every endpoint of such a Service.
        cluster.apply(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-green-unready", "labels": {"app": "web", "role": "green"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": V2,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "env": [{"name": "SANDBOX_READY", "value": "false"}],
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        )
        cluster.apps.patch_namespaced_deployment_scale("web-green", namespace, {"spec": {"replicas": 0}})
        _wait_controller_slice(
            cluster,
            namespace,
            "only the unready green pod, read as ready",
            lambda endpoints: (
                [(e.target_ref.name, e.conditions.ready) for e in _green(endpoints)] == [("web-green-unready", True)]
            ),
        )
        [pod] = cluster.pods(namespace, "app=web,role=green")
        assert not any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        _release_hold(cluster, namespace)
        # Not done: no endpoint of blue is left, but no green pod is ready.
        run.until("service web: 0 ready endpoints of role green (1 not ready), 0 of other roles")
        cluster.apps.patch_namespaced_deployment_scale("web-green", namespace, {"spec": {"replicas": 2}})
        result = run.finish()
    assert result.code == ExitCode.OK, result
    assert result.statuses()["switch"] == "succeeded"
    # Done at the first green pod of the Deployment that is ready; the unready one is still there, not counted.
    assert re.search(
        r"service web: [12] ready endpoints of role green \([123] not ready\), 0 of other roles", result.stderr
    )
