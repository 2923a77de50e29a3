"""Why a rollout is stuck, read from pods and events as a kubelet and the scheduler report them."""

from __future__ import annotations

from typing import Any

from pipeline_steps.kube.pod_problems import current_pods, describe, largest_node, pod_problems, quantity, requests_of


def pod(name: str, *, ready: bool = False, waiting: str | None = None, terminated: str | None = None,
        restarts: int = 0, unschedulable: str | None = None, deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, "message": f"{waiting} happened"}
    if terminated:
        state["terminated"] = {"reason": terminated, "exitCode": 1}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable:
        conditions.append(
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable}
        )
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "conditions": conditions,
            "containerStatuses": [{"name": "app", "state": state, "restartCount": restarts}] if state else [],
        },
    }


def test_a_crash_looping_container_is_certain_and_named_with_its_restarts() -> None:
    [problem] = pod_problems([pod("web-1", waiting="CrashLoopBackOff", restarts=4)])
    assert (problem.pod, problem.reason, problem.certain) == ("web-1", "CrashLoopBackOff", True)
    assert str(problem) == "pod web-1: CrashLoopBackOff (container app: CrashLoopBackOff happened, restarted 4 times)"


def test_a_crash_loop_says_how_the_container_last_ended() -> None:
    crashing = pod("web-1", waiting="CrashLoopBackOff", restarts=3)
    crashing["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}

    [problem] = pod_problems([crashing])
    assert problem.detail == "container app: CrashLoopBackOff happened, restarted 3 times, last exited 137 (OOMKilled)"


def test_an_image_that_cannot_be_pulled_is_certain() -> None:
    assert [
        p.certain for p in pod_problems([pod("a", waiting="ImagePullBackOff"), pod("b", waiting="ErrImagePull")])
    ] == [
        True,
        True,
    ]


def test_a_container_still_being_created_is_no_problem() -> None:
    assert pod_problems([pod("a", waiting="ContainerCreating")]) == []


def test_a_container_that_exited_is_certain_only_after_restarts() -> None:
    [once] = pod_problems([pod("a", terminated="Error", restarts=1)])
    [often] = pod_problems([pod("a", terminated="Error", restarts=3)])
    assert (once.reason, once.certain, often.certain) == ("Error", False, True)


def test_an_unschedulable_pod_is_named_but_not_certain() -> None:
    [problem] = pod_problems([pod("a", unschedulable="0/3 nodes are available: 3 Insufficient cpu.")])
    assert (problem.reason, problem.certain) == ("Unschedulable", False)
    assert "Insufficient cpu" in problem.detail


def test_a_running_pod_that_never_gets_ready_shows_its_probe_event() -> None:
    events = [
        {"type": "Normal", "reason": "Started", "involvedObject": {"name": "a"}},
        {
            "type": "Warning",
            "reason": "Unhealthy",
            "message": "Readiness probe failed: HTTP 503",
            "involvedObject": {"name": "a"},
        },
    ]
    [problem] = pod_problems([pod("a")], events)
    assert (problem.reason, problem.detail, problem.certain) == ("Unhealthy", "Readiness probe failed: HTTP 503", False)


def test_the_probe_event_last_seen_is_shown_whatever_order_the_api_lists_them_in() -> None:
    """The first attempt found nothing listening; every attempt since gets a 503, counted on one event."""

    def unhealthy(message: str, first: str, last: str, count: int) -> dict[str, Any]:
        return {
            "type": "Warning",
            "reason": "Unhealthy",
            "message": message,
            "involvedObject": {"name": "a"},
            "firstTimestamp": first,
            "lastTimestamp": last,
            "count": count,
        }

    events = [
        unhealthy("Readiness probe failed: HTTP probe failed with statuscode: 503", "T00:00:02Z", "T00:00:09Z", 8),
        unhealthy(
            'Readiness probe failed: Get "http://10.1.1.5:8080/": connection refused', "T00:00:01Z", "T00:00:01Z", 1
        ),
    ]
    [problem] = pod_problems([pod("a")], events)
    assert problem.detail == "Readiness probe failed: HTTP probe failed with statuscode: 503"


def test_ready_and_terminating_pods_are_no_problem() -> None:
    assert pod_problems([pod("a", ready=True), pod("b", waiting="CrashLoopBackOff", deleting=True)]) == []


def test_describe_keeps_the_message_short() -> None:
    problems = pod_problems([pod(f"p{i}", waiting="ImagePullBackOff") for i in range(5)])
    assert describe(problems).endswith("; and 2 more")


# -- the pods of the current revision ----------------------------------------------------------------------------


def _owned(kind_meta: dict[str, Any], revision: str, template_hash: str, owner: str = "deploy-uid") -> dict[str, Any]:
    return {
        "metadata": {
            **kind_meta,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "labels": {"pod-template-hash": template_hash},
            "ownerReferences": [{"kind": "Deployment", "uid": owner}],
        }
    }


DEPLOYMENT = {
    "metadata": {"name": "web", "uid": "deploy-uid", "annotations": {"deployment.kubernetes.io/revision": "3"}}
}


def _labelled(name: str, template_hash: str) -> dict[str, Any]:
    found = pod(name, waiting="CrashLoopBackOff")
    found["metadata"]["labels"] = {"app": "web", "pod-template-hash": template_hash}
    return found


def test_only_the_pods_of_the_current_revision_are_this_rollouts() -> None:
    """A failed release's crashing pods (revision 2) stay while the next release (revision 3) rolls out."""
    replica_sets = [_owned({"name": "web-aaa"}, "2", "aaa"), _owned({"name": "web-bbb"}, "3", "bbb")]
    pods = [_labelled("web-aaa-1", "aaa"), _labelled("web-bbb-1", "bbb"), _labelled("web-aaa-2", "aaa")]

    assert [p["metadata"]["name"] for p in current_pods(DEPLOYMENT, replica_sets, pods)] == ["web-bbb-1"]


def test_a_replica_set_of_another_owner_is_not_the_current_one() -> None:
    replica_sets = [_owned({"name": "other-bbb"}, "3", "bbb", owner="someone-else")]
    pods = [_labelled("web-aaa-1", "aaa"), _labelled("other-bbb-1", "bbb")]

    # The current ReplicaSet is not known (not created yet, or not this Deployment's): every pod counts.
    assert len(current_pods(DEPLOYMENT, replica_sets, pods)) == 2


def _asking(name: str, cpu: str, *, init_cpu: str | None = None) -> dict[str, Any]:
    pending = pod(name, unschedulable="0/3 nodes are available: 3 Insufficient cpu.")
    pending["spec"] = {"containers": [{"name": "app", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}
    if init_cpu:
        pending["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": init_cpu}}}]
    return pending


NODES = [
    {"status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}},
    {"status": {"allocatable": {"cpu": "15900m", "memory": "32Gi"}}},
]


def test_a_pod_asking_more_than_the_largest_node_has_is_certain_and_says_by_how_much() -> None:
    [problem] = pod_problems([_asking("a", "16")], largest_node=largest_node(NODES))
    assert (problem.reason, problem.certain) == ("Unschedulable", True)
    assert "asks 16 cpu, the largest node has 15.9" in problem.detail
    [init] = pod_problems([_asking("b", "1", init_cpu="20")], largest_node=largest_node(NODES))
    assert init.certain


def test_a_pod_that_fits_an_empty_node_may_still_get_one_freed_and_is_not_certain() -> None:
    [problem] = pod_problems([_asking("a", "15")], largest_node=largest_node(NODES))
    assert not problem.certain
    # Without the nodes (a CI identity may not list them), nothing is certain.
    [unknown] = pod_problems([_asking("a", "1000")])
    assert not unknown.certain


def test_an_autoscaler_decides_whether_a_pending_pod_will_get_a_node() -> None:
    def event(reason: str) -> dict[str, Any]:
        return {"type": "Normal", "reason": reason, "involvedObject": {"name": "a"}}

    nodes = largest_node(NODES)
    [coming] = pod_problems([_asking("a", "1000")], [event("TriggeredScaleUp")], largest_node=nodes)
    [nominated] = pod_problems([_asking("a", "1000")], [event("Nominated")], largest_node=nodes)
    assert not coming.certain and not nominated.certain
    [refused] = pod_problems([_asking("a", "1")], [event("NotTriggerScaleUp")])
    assert refused.certain and "no node group" in refused.detail


def test_quantities_read_as_the_api_writes_them() -> None:
    assert [quantity(v) for v in ("250m", "2", 3, "1Gi", "1.5k", "128u", "1e3", "bad", "5Zi")] == [
        0.25, 2.0, 3.0, 2.0**30, 1500.0, 128e-6, 1000.0, 0.0, 0.0,
    ]  # fmt: skip
    assert requests_of(_asking("a", "500m", init_cpu="2")) == {"cpu": 2.0, "memory": 64 * 2.0**20}
