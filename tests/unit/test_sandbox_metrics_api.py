"""The node agent's metrics.k8s.io API: quantities as Kubernetes writes them, selectors, and metrics-server's shapes."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline_steps_sandbox.label_selectors import SelectorError, matches, parse_field_selector, parse_selector
from pipeline_steps_sandbox.metrics_api import (
    ContainerUsage,
    NodeUsage,
    PodUsage,
    Snapshot,
    answer,
    cpu_quantity,
    go_duration,
    memory_quantity,
)

AT = dt.datetime(2026, 5, 1, 12, 0, 7, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 5, 1, 12, 0, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("nanocores", "written"),
    [
        (0, "0"),
        (666116, "666116n"),
        (5_000_000, "5m"),
        (1_500_000_000, "1500m"),
        (2_000_000_000, "2"),
        (3_000, "3u"),
        (2_000_000_000_000, "2k"),
    ],
)
def test_cpu_is_written_in_the_largest_exact_si_unit(nanocores: int, written: str) -> None:
    assert cpu_quantity(nanocores) == written


@pytest.mark.parametrize(
    ("size", "written"),
    [(0, "0"), (4096, "4Ki"), (21_504_000, "21000Ki"), (20 * 2**20, "20Mi"), (3 * 2**30, "3Gi"), (1000, "1000")],
)
def test_memory_is_written_in_the_largest_exact_binary_unit(size: int, written: str) -> None:
    assert memory_quantity(size) == written


@pytest.mark.parametrize(
    ("seconds", "written"), [(5.004, "5.004s"), (15.0, "15s"), (0.0, "0s"), (60.5, "1m0.5s"), (3725, "1h2m5s")]
)
def test_window_is_written_as_a_go_duration(seconds: float, written: str) -> None:
    assert go_duration(seconds) == written


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ("", {"app": "web"}, True),
        ("app=web", {"app": "web", "role": "blue"}, True),
        ("app==web", {"app": "api"}, False),
        ("app!=web", {}, True),
        ("app=web,role in (blue, green)", {"app": "web", "role": "green"}, True),
        ("app=web,role in (blue, green)", {"app": "web"}, False),
        ("role notin (blue)", {}, True),
        ("role notin (blue)", {"role": "blue"}, False),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": "x"}, False),
        ("!tier", {"app": "web"}, True),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas<2", {"replicas": "3"}, False),
        ("replicas>2", {"replicas": "many"}, False),
        ("app=", {"app": ""}, True),
    ],
)
def test_label_selectors_select_as_apimachinery_does(selector: str, labels: dict[str, str], selected: bool) -> None:
    assert matches(parse_selector(selector), labels) is selected


@pytest.mark.parametrize("selector", ["=web", "app in web", "app in ()", "app web", "!", "a>b", "app in (web", "a,,b"])
def test_a_malformed_label_selector_is_an_error_naming_it(selector: str) -> None:
    with pytest.raises(SelectorError, match="label selector"):
        parse_selector(selector)


def test_field_selectors_know_only_the_fields_of_the_resource() -> None:
    requirements = parse_field_selector("metadata.name=web-1", ("metadata.name",))
    assert matches(requirements, {"metadata.name": "web-1"})
    assert not matches(requirements, {"metadata.name": "web-2"})
    with pytest.raises(SelectorError, match=r"field label not supported: \"spec.nodeName\""):
        parse_field_selector("spec.nodeName=sandbox-node-1", ("metadata.name",))


def pod(name: str, namespace: str = "shop", **labels: str) -> PodUsage:
    return PodUsage(
        namespace=namespace,
        name=name,
        labels=labels,
        node="sandbox-node-1",
        timestamp=AT,
        window_seconds=5.004,
        containers=(ContainerUsage("app", 81_000_000, 21_504_000),),
    )


SNAPSHOT = Snapshot(
    pods=(pod("web-1", app="web"), pod("api-1", app="api"), pod("web-1", "other", app="web")),
    nodes=(NodeUsage("sandbox-node-1", {"kubernetes.io/hostname": "sandbox-node-1"}, AT, 5.0, 666116, 28654250),),
    now=NOW,
)


def test_pod_metrics_have_metrics_servers_shape() -> None:
    code, body = answer("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1", "", SNAPSHOT)

    assert code == 200
    assert body == {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "creationTimestamp": "2026-05-01T12:00:09Z",
            "labels": {"app": "web"},
        },
        "timestamp": "2026-05-01T12:00:07Z",
        "window": "5.004s",
        "containers": [{"name": "app", "usage": {"cpu": "81m", "memory": "21000Ki"}}],
    }


def test_pod_lists_honour_namespace_and_label_selector() -> None:
    def names(path: str, query: str = "") -> list[tuple[str, str]]:
        code, body = answer("GET", path, query, SNAPSHOT)
        assert code == 200 and body["kind"] == "PodMetricsList"
        return [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]]

    assert names("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods") == [("shop", "api-1"), ("shop", "web-1")]
    assert names("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods", "labelSelector=app%3Dweb") == [("shop", "web-1")]
    assert names("/apis/metrics.k8s.io/v1beta1/pods", "labelSelector=app+in+%28web%29") == [
        ("other", "web-1"),
        ("shop", "web-1"),
    ]
    assert names("/apis/metrics.k8s.io/v1beta1/pods", "fieldSelector=metadata.namespace%3Dother") == [
        ("other", "web-1")
    ]


def test_node_metrics_have_metrics_servers_shape() -> None:
    code, body = answer("GET", "/apis/metrics.k8s.io/v1beta1/nodes", "", SNAPSHOT)

    assert code == 200
    assert body["kind"] == "NodeMetricsList"
    assert body["items"] == [
        {
            "kind": "NodeMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": "sandbox-node-1",
                "creationTimestamp": "2026-05-01T12:00:09Z",
                "labels": {"kubernetes.io/hostname": "sandbox-node-1"},
            },
            "timestamp": "2026-05-01T12:00:07Z",
            "window": "5s",
            "usage": {"cpu": "666116n", "memory": "28654250"},
        }
    ]


def test_discovery_lists_pods_and_nodes_as_read_only_resources() -> None:
    code, body = answer("GET", "/apis/metrics.k8s.io/v1beta1", "", SNAPSHOT)

    assert code == 200
    assert body["kind"] == "APIResourceList"
    assert body["groupVersion"] == "metrics.k8s.io/v1beta1"
    assert {(r["name"], r["kind"], r["namespaced"]) for r in body["resources"]} == {
        ("pods", "PodMetrics", True),
        ("nodes", "NodeMetrics", False),
    }
    assert all(r["verbs"] == ["get", "list"] for r in body["resources"])


@pytest.mark.parametrize(
    ("method", "path", "query", "code", "message"),
    [
        ("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/gone", "", 404, 'pods.metrics.k8s.io "shop/gone"'),
        ("GET", "/apis/metrics.k8s.io/v1beta1/nodes/sandbox-node-9", "", 404, '"sandbox-node-9" not found'),
        ("GET", "/apis/metrics.k8s.io/v1beta1/pods", "labelSelector=app+in+%28web", 400, "label selector"),
        ("DELETE", "/apis/metrics.k8s.io/v1beta1/pods", "", 405, "DELETE is not allowed"),
        ("GET", "/apis/metrics.k8s.io/v1beta1/services", "", 404, "could not find"),
    ],
)
def test_errors_are_kubernetes_statuses(method: str, path: str, query: str, code: int, message: str) -> None:
    got, body = answer(method, path, query, SNAPSHOT)

    assert got == code
    assert body["kind"] == "Status" and body["code"] == code
    assert message in body["message"]
