"""What an apply would change: server-managed fields ignored, a unified diff of the rest."""

from __future__ import annotations

import copy
from typing import Any

from pipeline_steps.kube.diff import comparable, object_diff


def live_deployment(image: str = "web:1", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "prod",
            "labels": {"app": "web"},
            "annotations": {
                "deployment.kubernetes.io/revision": "7",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                **annotations,
            },
            "managedFields": [{"manager": "pipeline-steps"}],
            "resourceVersion": "12345",
            "generation": 7,
            "uid": "0b6c",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "selfLink": "/apis/apps/v1/namespaces/prod/deployments/web",
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
        "status": {"replicas": 2, "availableReplicas": 2},
    }


def test_comparable_drops_status_and_server_managed_metadata() -> None:
    assert comparable(live_deployment()) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
    }


def test_comparable_keeps_annotations_a_release_sets() -> None:
    metadata = comparable(live_deployment(**{"pipeline-steps.dev/role": "green"}))["metadata"]
    assert metadata["annotations"] == {"pipeline-steps.dev/role": "green"}


def test_comparable_does_not_change_its_argument() -> None:
    live = live_deployment()
    before = copy.deepcopy(live)
    comparable(live)
    assert live == before


def test_comparable_of_nothing_is_empty() -> None:
    assert comparable(None) == {}
    assert comparable({}) == {}


def test_comparable_without_metadata() -> None:
    assert comparable({"kind": "ConfigMap", "data": {"a": "1"}, "status": {}}) == {
        "kind": "ConfigMap",
        "data": {"a": "1"},
    }


def test_no_diff_when_only_server_fields_differ() -> None:
    live = live_deployment()
    planned = live_deployment()
    planned["metadata"]["resourceVersion"] = "99999"
    planned["metadata"]["generation"] = 8
    planned["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "8"
    planned["status"] = {"replicas": 0}
    assert object_diff(live, planned, "Deployment/web") == ""


def test_a_changed_image_is_a_unified_diff_with_labels() -> None:
    diff = object_diff(live_deployment("web:1"), live_deployment("web:2"), "Deployment/web")
    lines = diff.splitlines()
    assert lines[0] == "--- live/Deployment/web"
    assert lines[1] == "+++ planned/Deployment/web"
    assert "-      - image: web:1" in lines
    assert "+      - image: web:2" in lines
    changed = [line for line in lines[2:] if line[:1] in "+-" and not line.startswith("@@")]
    assert changed == ["-      - image: web:1", "+      - image: web:2"]
    assert "resourceVersion" not in diff
    assert "status" not in diff


def test_a_new_object_is_all_additions() -> None:
    planned = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    diff = object_diff(None, planned, "Service/web")
    lines = diff.splitlines()
    assert lines[:2] == ["--- live/Service/web", "+++ planned/Service/web"]
    body = [line for line in lines[2:] if not line.startswith("@@")]
    assert body == [
        "+apiVersion: v1",
        "+kind: Service",
        "+metadata:",
        "+  name: web",
        "+spec:",
        "+  ports:",
        "+  - port: 80",
    ]


def test_keys_are_sorted_so_key_order_makes_no_diff() -> None:
    live = {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}
    planned = {"data": {"y": "2", "x": "1"}, "metadata": {"name": "a"}, "kind": "ConfigMap"}
    assert object_diff(live, planned, "ConfigMap/a") == ""


def test_removing_the_last_own_annotation_shows_in_the_diff() -> None:
    live = live_deployment(**{"pipeline-steps.dev/role": "blue"})
    diff = object_diff(live, live_deployment(), "Deployment/web")
    assert "-  annotations:" in diff
    assert "-    pipeline-steps.dev/role: blue" in diff
