"""Server-side apply conflicts: the other managers and fields read from the API server's 409, and the error."""

from __future__ import annotations

import json
from typing import Any

from pipeline_steps.errors import ApplyConflict
from pipeline_steps.kube.cluster import OUR_MANAGERS
from pipeline_steps.kube.conflicts import FieldConflict, conflict_error, field_conflicts, only_managers


def conflict_status(*causes: tuple[str, str]) -> dict[str, Any]:
    """A 409 Status as the API server sends it for an apply that others' fields stop."""
    return {
        "kind": "Status",
        "status": "Failure",
        "reason": "Conflict",
        "code": 409,
        "message": f"Apply failed with {len(causes)} conflicts",
        "details": {
            "name": "web",
            "group": "apps",
            "kind": "deployments",
            "causes": [{"reason": "FieldManagerConflict", "message": m, "field": f} for m, f in causes],
        },
    }


HPA_CAUSE = (
    'conflict with "kube-controller-manager" with subresource "scale" using autoscaling/v1 at 2025-01-01T00:00:00Z',
    ".spec.replicas",
)
EDIT_CAUSE = (
    'conflict with "kubectl-edit" using apps/v1 at 2025-01-01T00:00:00Z',
    '.spec.template.spec.containers[name="app"].image',
)


def test_each_conflicting_field_is_read_with_its_manager() -> None:
    found = field_conflicts(json.dumps(conflict_status(HPA_CAUSE, EDIT_CAUSE)).encode())  # as the client has it
    assert [(c.manager, c.field) for c in found] == [
        ("kube-controller-manager", ".spec.replicas"),
        ("kubectl-edit", '.spec.template.spec.containers[name="app"].image'),
    ]
    assert found[0].how.startswith('with subresource "scale"')


def test_a_409_without_field_conflicts_is_not_an_apply_conflict() -> None:
    stale = {"kind": "Status", "code": 409, "reason": "Conflict", "message": "the object has been modified"}
    assert field_conflicts(stale) == []
    assert field_conflicts("not json") == []
    assert field_conflicts(None) == []


def test_conflicts_only_with_our_own_managers_are_ours_to_take_over() -> None:
    ours = [FieldConflict("pipeline-steps", "using apps/v1", ".spec.replicas")]
    handover = [FieldConflict("pipeline-steps-replicas-handover", "", ".spec.replicas")]
    theirs = [*ours, FieldConflict("kubectl-edit", "using apps/v1", ".spec.paused")]
    assert only_managers(ours, OUR_MANAGERS)
    assert only_managers(handover, OUR_MANAGERS)
    assert not only_managers(theirs, OUR_MANAGERS)
    assert not only_managers([], OUR_MANAGERS)


def test_the_error_names_each_manager_its_fields_and_the_setting_that_forces() -> None:
    error = conflict_error("Deployment", "web", field_conflicts(conflict_status(HPA_CAUSE, EDIT_CAUSE)))
    assert isinstance(error, ApplyConflict)
    assert error.status == 409 and error.retryable is False
    assert error.message == (
        "apply Deployment/web: fields the manifest sets are managed by others: kube-controller-manager "
        "(subresource scale) manages .spec.replicas; "
        'kubectl-edit manages .spec.template.spec.containers[name="app"].image'
    )
    assert error.hint is not None
    assert "apply.force_conflicts: true" in error.hint
    assert "remove `replicas` from the manifest" in error.hint


def test_the_replicas_advice_is_given_only_when_replicas_conflict() -> None:
    error = conflict_error("Deployment", "web", field_conflicts(conflict_status(EDIT_CAUSE)))
    assert error.hint is not None and "replicas" not in error.hint
