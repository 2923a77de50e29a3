"""Resource metrics on the sandbox: `kubectl top` and the metrics.k8s.io API show the pods' real usage, and a
HorizontalPodAutoscaler scales a Deployment through the real kube-controller-manager when a test loads it."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from kubernetes import client
from kubernetes.utils import parse_quantity

from pipeline_steps_sandbox.cluster import Cluster
from tests.support import app
from tests.support.traffic import Load

WEB = {"app": "web"}
#: How long a new pod takes to show in the metrics API: two samples of the node agent (5 s apart) on the
#: sandbox, two scrapes of metrics-server (15 s apart) on a real cluster; generous for a loaded machine.
METRICS_TIMEOUT = 120.0


def _kubectl(cluster: Cluster, *args: str) -> str:
    return subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _raw(cluster: Cluster, path: str) -> dict[str, Any]:
    return dict(json.loads(_kubectl(cluster, "get", "--raw", path)))


def _until(what: str, probe: Any, timeout: float = METRICS_TIMEOUT) -> Any:
    """Poll `probe` (the metrics API has no watch) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except subprocess.CalledProcessError as exc:  # the API is not serving yet: a new sandbox's first seconds
            last = exc.stderr
        else:
            if last:
                return last
        time.sleep(1.0)
    raise TimeoutError(f"{what}: not seen in {timeout}s; last: {last}")


def _with_cpu_request(deployment: dict[str, Any], cpu: str) -> dict[str, Any]:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        container["resources"] = {"requests": {"cpu": cpu}}
    return deployment


def test_pod_metrics_show_every_pod_of_a_selector_with_its_memory(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        namespace,
        app.deployment("web", "demo/app:v1", WEB, replicas=2, external=cluster.external),
        app.deployment("api", "demo/api:v1", {"app": "api"}, replicas=1, external=cluster.external),
    )
    cluster.wait_deployment_available(namespace, "web")
    cluster.wait_deployment_available(namespace, "api")
    web_pods = {p.metadata.name for p in cluster.pods(namespace, "app=web")}
    pods_path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"

    def listed(path: str, names: set[str]) -> dict[str, Any] | None:
        found = _raw(cluster, path)
        return found if {i["metadata"]["name"] for i in found["items"]} == names else None

    listing = _until("metrics of both web pods", lambda: listed(f"{pods_path}?labelSelector=app%3Dweb", web_pods))

    assert listing["kind"] == "PodMetricsList"
    for item in listing["items"]:
        assert item["metadata"]["namespace"] == namespace
        assert item["metadata"]["labels"]["app"] == "web"
        assert item["timestamp"] and item["window"]
        (container,) = item["containers"]
        assert container["name"] == "app"
        assert parse_quantity(container["usage"]["memory"]) > 0
        assert parse_quantity(container["usage"]["cpu"]) >= 0
    # Without a selector the namespace's other pod shows too; one pod can be read by name.
    every_pod = {p.metadata.name for p in cluster.pods(namespace)}
    assert _until("metrics of every pod of the namespace", lambda: listed(pods_path, every_pod))
    one = sorted(web_pods)[0]
    assert _raw(cluster, f"{pods_path}/{one}")["metadata"]["name"] == one
    top = _kubectl(cluster, "top", "pod", "-n", namespace, "-l", "app=web", "--no-headers")
    assert {line.split()[0] for line in top.splitlines()} == web_pods


def test_node_metrics_list_every_node(cluster: Cluster) -> None:
    nodes = {n.metadata.name for n in cluster.core.list_node().items}

    def every_node() -> dict[str, Any] | None:
        found = _raw(cluster, "/apis/metrics.k8s.io/v1beta1/nodes")
        return found if {i["metadata"]["name"] for i in found["items"]} == nodes else None

    listing = _until("metrics of every node", every_node)

    assert listing["kind"] == "NodeMetricsList"
    for item in listing["items"]:
        assert parse_quantity(item["usage"]["memory"]) > 0
        assert parse_quantity(item["usage"]["cpu"]) >= 0
    top = _kubectl(cluster, "top", "node", "--no-headers")
    assert {line.split()[0] for line in top.splitlines()} == nodes


CPU_TARGET = {"type": "Utilization", "averageUtilization": 50}


def test_hpa_scales_a_deployment_up_under_cpu_load(cluster: Cluster, namespace: str) -> None:
    # Each request costs 20 ms of CPU; the pod asks for 50m and the HPA aims at half of that, so a single
    # client sending a request every few tens of milliseconds is several times the target.
    deployment = app.deployment(
        "web", "demo/app:v1", WEB, replicas=1, env={"SANDBOX_CPU_PER_REQUEST": "20"}, external=cluster.external
    )
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
    }
    cluster.apply(namespace, _with_cpu_request(deployment, "50m"), app.service("web", WEB), hpa)
    cluster.wait_deployment_available(namespace, "web")
    url = cluster.service_url(namespace, "web")
    autoscaling = client.AutoscalingV2Api(cluster.api)

    with Load(url, workers=1, pause=0.02) as load:
        scaled = cluster.wait_for(
            "the HPA scaling web up",
            cluster.apps.list_namespaced_deployment,
            lambda d: d.metadata.name == "web" and d.spec.replicas > 1,
            timeout=180.0,
            namespace=namespace,
        )
        status = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace).status

    assert load.answers and not load.failures, load.summary()
    assert scaled.spec.replicas > 1
    assert status.desired_replicas > 1
    assert status.last_scale_time is not None
    cpu = [m.resource for m in status.current_metrics or [] if m.type == "Resource" and m.resource.name == "cpu"]
    assert cpu, status.current_metrics
    # The utilization the HPA acted on is the pods' real CPU over their request: above the 50% target.
    assert cpu[0].current.average_utilization > 50, cpu[0]
    events = cluster.core.list_namespaced_event(namespace, field_selector="involvedObject.kind=HorizontalPodAutoscaler")
    assert any(e.reason == "SuccessfulRescale" for e in events.items), [e.message for e in events.items]
