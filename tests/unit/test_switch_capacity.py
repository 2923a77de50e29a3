"""Capacity before a blue/green switch: what the target role needs, how an HPA's minimum is raised and given
back, and the undo records of a field."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from pipeline_steps.context import ReleaseContext
from pipeline_steps.strategies.autoscaling import Autoscaler
from pipeline_steps.strategies.bluegreen.capacity import CapacityRaise, capacity_raises, with_originals
from pipeline_steps.strategies.undo import record_field, undo_changes


def deployment(replicas: int, available: int) -> dict[str, Any]:
    return {"spec": {"replicas": replicas}, "status": {"availableReplicas": available}}


GREEN_HPA = Autoscaler("web-green", "web-green", 1, 10)


def test_an_idle_role_held_at_its_hpa_minimum_is_raised_to_the_active_roles_available_count() -> None:
    [found] = capacity_raises([("web-green", deployment(1, 1))], [deployment(5, 5)], {"web-green": GREEN_HPA})
    assert found == CapacityRaise("web-green", 1, 5, GREEN_HPA)
    assert found.scale_to == 5 and found.min_replicas_to == 5
    assert found.changes() == [
        "raise HorizontalPodAutoscaler/web-green minReplicas 1 -> 5 for the switch (given back at post-clean)",
        "scale Deployment/web-green 1 -> 5 before the switch",
    ]


def test_the_active_roles_available_replicas_count_not_its_wanted_ones() -> None:
    [found] = capacity_raises([("web-green", deployment(2, 2))], [deployment(6, 4)], {})
    assert found.needed == 4 and found.scale_to == 4 and found.min_replicas_to is None


def test_an_hpa_cannot_hold_more_than_its_maximum() -> None:
    small = Autoscaler("web-green", "web-green", 1, 3)
    [found] = capacity_raises([("web-green", deployment(1, 1))], [deployment(5, 5)], {"web-green": small})
    assert found.needed == 3 and found.scale_to == 3 and found.min_replicas_to == 3


def test_a_target_with_enough_replicas_and_no_hpa_needs_nothing() -> None:
    assert capacity_raises([("web-green", deployment(5, 5))], [deployment(5, 5)], {}) == []


def test_a_target_with_enough_replicas_still_gets_its_hpa_minimum_raised_for_the_switch() -> None:
    # Without it the HPA, seeing an idle role, may scale it down while traffic moves over.
    [found] = capacity_raises([("web-green", deployment(5, 5))], [deployment(5, 5)], {"web-green": GREEN_HPA})
    assert found.scale_to is None and found.min_replicas_to == 5
    assert found.changes() == [
        "raise HorizontalPodAutoscaler/web-green minReplicas 1 -> 5 for the switch (given back at post-clean)"
    ]


def test_deployments_pair_by_position_and_missing_ones_are_skipped() -> None:
    target = [("web-green", deployment(1, 1)), ("api-green", None)]
    active = [deployment(3, 3), deployment(4, 4)]
    assert [r.deployment for r in capacity_raises(target, active, {})] == ["web-green"]


def test_a_switch_run_again_plans_from_the_minimum_it_recorded_not_its_own_raise() -> None:
    raised = {"web-green": Autoscaler("web-green", "web-green", 5, 10)}
    records = [record_field("autoscaling/v2", "HorizontalPodAutoscaler", "web-green", "spec.minReplicas", 1)]
    assert with_originals(raised, records) == {"web-green": GREEN_HPA}
    assert with_originals(raised, []) == raised


def test_a_field_record_names_the_object_the_field_and_its_value() -> None:
    assert record_field("autoscaling/v2", "HorizontalPodAutoscaler", "web", "spec.minReplicas", 2) == {
        "api_version": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "web",
        "existed": True,
        "field": "spec.minReplicas",
        "value": 2,
    }


class PatchRecorder:
    """Stands in for the cluster: records merge patches."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    def merge_patch(self, api_version: str, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((api_version, kind, name, patch))
        return {}


def test_undo_gives_a_recorded_field_back_with_a_patch_of_that_field_alone() -> None:
    cluster = PatchRecorder()
    ctx = cast(ReleaseContext, SimpleNamespace(cluster=cluster, progress=lambda _m: None))
    records = [record_field("autoscaling/v2", "HorizontalPodAutoscaler", "web-green", "spec.minReplicas", 1)]
    undone, left = undo_changes(ctx, records)
    assert cluster.patches == [("autoscaling/v2", "HorizontalPodAutoscaler", "web-green", {"spec": {"minReplicas": 1}})]
    assert undone == ["HorizontalPodAutoscaler/web-green spec.minReplicas to 1"] and left == []
