"""Readiness predicates over plain Deployment and EndpointSlice dicts, as the API server sends them."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.kube.readiness import (
    EndpointsView,
    RolloutStatus,
    endpoints_view,
    fully_available,
    rollout_status,
    serves_only,
)


def deployment(
    *,
    replicas: int | None = 3,
    generation: int = 2,
    observed: int | None = 2,
    updated: int | None = 3,
    total: int | None = 3,
    available: int | None = 3,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    status: dict[str, Any] = {
        key: value
        for key, value in (
            ("observedGeneration", observed),
            ("updatedReplicas", updated),
            ("replicas", total),
            ("availableReplicas", available),
        )
        if value is not None
    }
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status}


# -- rollout_status -----------------------------------------------------------------------------------


def test_complete_rollout_is_done() -> None:
    assert rollout_status(deployment()) == RolloutStatus(
        True, False, "deployment web: 3 of 3 replicas updated and available"
    )


def test_controller_has_not_seen_the_new_spec() -> None:
    status = rollout_status(deployment(generation=3, observed=2))
    assert status == RolloutStatus(False, False, "deployment web: waiting for the controller to see the new spec")


def test_missing_observed_generation_counts_as_not_seen() -> None:
    status = rollout_status(deployment(generation=1, observed=None))
    assert not status.done
    assert "waiting for the controller" in status.message


def test_observed_generation_ahead_of_generation_is_not_a_wait() -> None:
    # The controller's status can be newer than a cached metadata.generation; that is not "stale".
    assert rollout_status(deployment(generation=2, observed=3)).done


def test_stale_generation_wins_over_a_deadline_condition() -> None:
    # The condition belongs to the previous spec until the controller has observed the new one.
    exceeded = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    status = rollout_status(deployment(generation=5, observed=4, conditions=exceeded))
    assert (status.done, status.failed) == (False, False)


def test_progress_deadline_exceeded_fails() -> None:
    exceeded = [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
    ]
    status = rollout_status(deployment(updated=1, conditions=exceeded))
    assert status == RolloutStatus(False, True, "deployment web: exceeded its progress deadline")


@pytest.mark.parametrize("reason", ["NewReplicaSetAvailable", "ReplicaSetUpdated", "NewReplicaSetCreated"])
def test_other_progressing_reasons_do_not_fail(reason: str) -> None:
    status = rollout_status(deployment(conditions=[{"type": "Progressing", "status": "True", "reason": reason}]))
    assert status.done
    assert not status.failed


def test_deadline_reason_on_another_condition_type_does_not_fail() -> None:
    odd = [{"type": "ReplicaFailure", "status": "True", "reason": "ProgressDeadlineExceeded"}]
    assert not rollout_status(deployment(conditions=odd)).failed


def test_too_few_updated_replicas() -> None:
    status = rollout_status(deployment(updated=1, total=3, available=3))
    assert status == RolloutStatus(False, False, "deployment web: 1 of 3 replicas updated")


def test_old_replicas_pending_termination() -> None:
    status = rollout_status(deployment(updated=3, total=5, available=3))
    assert status == RolloutStatus(False, False, "deployment web: 2 old replicas pending termination")


def test_updated_replicas_not_yet_available() -> None:
    status = rollout_status(deployment(updated=3, total=3, available=2))
    assert status == RolloutStatus(False, False, "deployment web: 2 of 3 updated replicas available")


def test_spec_replicas_defaults_to_one() -> None:
    assert rollout_status(deployment(replicas=None, updated=0, total=0, available=0)).message == (
        "deployment web: 0 of 1 replicas updated"
    )
    assert rollout_status(deployment(replicas=None, updated=1, total=1, available=1)).done


def test_empty_status_is_not_done() -> None:
    status = rollout_status({"metadata": {"name": "api", "generation": 1}, "spec": {"replicas": 2}})
    assert (status.done, status.failed) == (False, False)
    assert status.message == "deployment api: waiting for the controller to see the new spec"


def test_unnamed_deployment_is_reported_as_question_mark() -> None:
    assert rollout_status({}).message.startswith("deployment ?:")


def test_scaled_to_zero_is_done_but_not_fully_available() -> None:
    zero = deployment(replicas=0, updated=None, total=None, available=None)
    assert rollout_status(zero).done
    assert fully_available(zero) is False


# -- fully_available ----------------------------------------------------------------------------------


def test_fully_available_when_rolled_out() -> None:
    assert fully_available(deployment()) is True


def test_not_fully_available_while_a_replica_is_unavailable() -> None:
    assert fully_available(deployment(available=2)) is False


def test_not_fully_available_past_its_deadline() -> None:
    exceeded = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    assert fully_available(deployment(conditions=exceeded)) is False


# -- endpoints_view -----------------------------------------------------------------------------------


def endpoint(pod: str | None, *, addresses: tuple[str, ...] = ("10.0.0.1",), **conditions: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"addresses": list(addresses), "conditions": conditions}
    if pod is not None:
        result["targetRef"] = {"kind": "Pod", "name": pod}
    return result


def test_ready_and_not_ready_endpoints_across_slices() -> None:
    slices = [
        {"endpoints": [endpoint("web-a", ready=True), endpoint("web-b", ready=False)]},
        {"endpoints": [endpoint("web-c", ready=True, serving=True, terminating=False)]},
    ]
    assert endpoints_view(slices) == EndpointsView(frozenset({"web-a", "web-c"}), frozenset({"web-b"}))


def test_unset_ready_condition_means_ready() -> None:
    view = endpoints_view([{"endpoints": [endpoint("web-a"), {"targetRef": {"name": "web-b"}}]}])
    assert view.ready == {"web-a", "web-b"}
    assert view.not_ready == frozenset()


def test_terminating_endpoint_is_not_ready_even_while_serving() -> None:
    slices = [{"endpoints": [endpoint("old-a", ready=True, serving=True, terminating=True)]}]
    assert endpoints_view(slices) == EndpointsView(frozenset(), frozenset({"old-a"}))


def test_endpoint_without_target_ref_is_named_by_its_addresses() -> None:
    slices = [{"endpoints": [endpoint(None, addresses=("10.0.0.7", "10.0.0.8"), ready=True)]}]
    assert endpoints_view(slices).ready == {"10.0.0.7,10.0.0.8"}


def test_slices_without_endpoints_give_an_empty_view() -> None:
    assert endpoints_view([{"endpoints": None}, {}]) == EndpointsView(frozenset(), frozenset())


# -- serves_only --------------------------------------------------------------------------------------


def view(ready: set[str], not_ready: set[str] | None = None) -> EndpointsView:
    return EndpointsView(frozenset(ready), frozenset(not_ready or set()))


def test_serves_only_the_given_pods() -> None:
    assert serves_only(view({"green-1", "green-2"}), ["green-1", "green-2", "green-3"]) is True


def test_not_when_an_old_pod_is_still_ready() -> None:
    assert serves_only(view({"green-1", "blue-1"}), ["green-1"]) is False


def test_not_while_an_old_pod_is_still_listed_as_terminating() -> None:
    assert serves_only(view({"green-1"}, {"blue-1"}), ["green-1"]) is False


def test_new_pods_not_yet_ready_are_allowed() -> None:
    assert serves_only(view({"green-1"}, {"green-2"}), ["green-1", "green-2"]) is True


def test_not_without_any_ready_endpoint() -> None:
    assert serves_only(view(set(), {"green-1"}), ["green-1"]) is False
    assert serves_only(view(set()), []) is False


def test_serves_only_accepts_a_generator_of_pods() -> None:
    assert serves_only(view({"green-1"}), (name for name in ["green-1"])) is True


# -- zero wanted replicas (blue/green: a role is deployed to be made public) ---------------------------


def test_zero_wanted_replicas_counts_as_rolled_out_for_a_rolling_release() -> None:
    scaled_to_zero = deployment(replicas=0, updated=None, total=None, available=None)
    assert rollout_status(scaled_to_zero).done is True


def test_zero_wanted_replicas_is_never_rolled_out_for_a_role_that_must_serve() -> None:
    scaled_to_zero = deployment(replicas=0, updated=None, total=None, available=None)
    status = rollout_status(scaled_to_zero, at_least_one=True)
    assert status == RolloutStatus(False, False, "deployment web: 0 replicas wanted; waiting for it to be scaled up")


def test_a_role_with_replicas_rolls_out_as_before_when_at_least_one_is_asked() -> None:
    assert rollout_status(deployment(), at_least_one=True).done is True
    assert rollout_status(deployment(available=2), at_least_one=True).done is False
