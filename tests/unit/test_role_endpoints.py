"""The switch's endpoint predicate: each endpoint judged by its pod's role label and, with
publishNotReadyAddresses, by the pod's own readiness; over plain EndpointSlice and Pod dicts."""

from __future__ import annotations

from typing import Any

from pipeline_steps.kube.readiness import RoleEndpoints, pod_ready, role_endpoints, switched_to
from pipeline_steps.strategies.bluegreen.endpoints import describe_endpoints, pods_selector


def pod(name: str, role: str, *, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"app": "web", "role": role}}
    if deleting:
        metadata["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def endpoint(name: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": ["10.0.0.1"], "conditions": conditions, "targetRef": {"kind": "Pod", "name": name}}


def pods(*found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in found}


def judge(slices: list[dict[str, Any]], found: dict[str, dict[str, Any]], **kwargs: bool) -> RoleEndpoints:
    return role_endpoints(slices, found, role_label="role", role="green", **kwargs)


def test_a_pod_of_the_target_role_created_during_the_wait_counts_as_the_target() -> None:
    # green-3 did not exist when the switch began (an HPA scale-up): it is judged by its label.
    found = pods(pod("green-1", "green"), pod("green-3", "green"))
    view = judge([{"endpoints": [endpoint("green-1", ready=True), endpoint("green-3", ready=True)]}], found)
    assert view == RoleEndpoints(frozenset({"green-1", "green-3"}), frozenset(), frozenset())
    assert switched_to(view) is True


def test_a_new_target_pod_not_ready_yet_does_not_hold_the_switch() -> None:
    found = pods(pod("green-1", "green"), pod("green-4", "green", ready=False))
    view = judge([{"endpoints": [endpoint("green-1", ready=True), endpoint("green-4", ready=False)]}], found)
    assert view.not_ready == {"green-4"}
    assert switched_to(view) is True


def test_an_endpoint_of_the_other_role_holds_the_switch_ready_or_not() -> None:
    found = pods(pod("green-1", "green"), pod("blue-1", "blue"))
    for conditions in ({"ready": True}, {"ready": False, "terminating": True}):
        view = judge([{"endpoints": [endpoint("green-1", ready=True), endpoint("blue-1", **conditions)]}], found)
        assert view.others == {"blue-1"}
        assert switched_to(view) is False


def test_an_endpoint_whose_pod_is_unknown_holds_the_switch() -> None:
    # Its pod is gone, or the endpoint names no pod: whose it is cannot be told, so it is not the target's.
    slices = [
        {"endpoints": [endpoint("green-1", ready=True), endpoint("stray", ready=False), {"addresses": ["10.9.9.9"]}]}
    ]
    view = judge(slices, pods(pod("green-1", "green")))
    assert view.others == {"stray", "10.9.9.9"}
    assert switched_to(view) is False


def test_no_ready_endpoint_of_the_target_is_not_done() -> None:
    found = pods(pod("green-1", "green", ready=False))
    assert switched_to(judge([{"endpoints": [endpoint("green-1", ready=False)]}], found)) is False
    assert switched_to(judge([], found)) is False


def test_a_terminating_target_endpoint_does_not_serve() -> None:
    found = pods(pod("green-1", "green"), pod("green-2", "green", deleting=True))
    slices = [{"endpoints": [endpoint("green-1", ready=True), endpoint("green-2", ready=True, terminating=True)]}]
    assert judge(slices, found).not_ready == {"green-2"}


def test_with_publish_not_ready_addresses_the_pods_readiness_decides() -> None:
    # The endpoint controller marks every endpoint ready for such a Service, whatever its pod says.
    found = pods(pod("green-1", "green", ready=False), pod("green-2", "green", ready=False))
    slices = [{"endpoints": [endpoint("green-1", ready=True, serving=False), endpoint("green-2", ready=True)]}]
    view = judge(slices, found, publish_not_ready=True)
    assert view == RoleEndpoints(frozenset(), frozenset({"green-1", "green-2"}), frozenset())
    assert switched_to(view) is False
    assert judge(slices, found).ready == {"green-1", "green-2"}  # what trusting the slice would say

    found["green-2"] = pod("green-2", "green")
    assert switched_to(judge(slices, found, publish_not_ready=True)) is True


def test_pod_readiness() -> None:
    assert pod_ready(pod("a", "green")) is True
    assert pod_ready(pod("a", "green", ready=False)) is False
    assert pod_ready(pod("a", "green", deleting=True)) is False
    assert pod_ready({"metadata": {"name": "a"}}) is False


def test_the_pods_either_role_may_select() -> None:
    service = {"spec": {"selector": {"role": "green", "app": "web", "tier": "front"}}}
    assert pods_selector(service, "role") == "app=web,tier=front,role"
    assert pods_selector({"spec": {"selector": {"role": "green"}}}, "role") == "role"


def test_the_wait_names_what_it_sees() -> None:
    view = RoleEndpoints(frozenset({"g1", "g2"}), frozenset({"g3"}), frozenset({"b1"}))
    assert (
        describe_endpoints("web", "green", view)
        == "service web: 2 ready endpoints of role green (1 not ready), 1 of other roles"
    )
