"""Why a rollout is stuck, read from pods and events as a kubelet and the scheduler report them."""

from __future__ import annotations

from typing import Any

from pipeline_steps.kube.pod_problems import describe, pod_problems


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


def test_ready_and_terminating_pods_are_no_problem() -> None:
    assert pod_problems([pod("a", ready=True), pod("b", waiting="CrashLoopBackOff", deleting=True)]) == []


def test_describe_keeps_the_message_short() -> None:
    problems = pod_problems([pod(f"p{i}", waiting="ImagePullBackOff") for i in range(5)])
    assert describe(problems).endswith("; and 2 more")
