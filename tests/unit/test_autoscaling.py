"""Deployments an HPA scales: replicas left to it, the handover that keeps the live count, and the replicas a
role left at 0 needs."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.render import Manifest
from pipeline_steps.strategies.autoscaling import (
    Autoscaler,
    autoscaled_notes,
    autoscaler_of,
    autoscalers_by_target,
    leave_replicas_to_autoscalers,
    owns_replicas,
    replicas_handover,
    replicas_to_restore,
)


def hpa(
    name: str, target: str, *, minimum: int | None = 2, maximum: int = 10, kind: str = "Deployment"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
        "maxReplicas": maximum,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name}, "spec": spec}


def deployment(name: str = "web", replicas: int | None = 2) -> Manifest:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": {}}
    if replicas is not None:
        spec["replicas"] = replicas
    return Manifest(
        "app.yaml", 0, 1, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}
    )


def live(replicas: int, *managers: tuple[str, str, bool]) -> dict[str, Any]:
    """A live Deployment whose managedFields list (manager, operation, owns replicas)."""
    entries = [
        {
            "manager": manager,
            "operation": operation,
            "fieldsV1": {"f:spec": {"f:replicas": {}} if owns else {"f:template": {}}},
        }
        for manager, operation, owns in managers
    ]
    return {"metadata": {"name": "web", "managedFields": entries}, "spec": {"replicas": replicas}}


# -- which Deployments an HPA scales ------------------------------------------------------------------


def test_an_hpa_of_a_deployment_is_read_with_its_bounds() -> None:
    assert autoscaler_of(hpa("web", "web-blue", minimum=3, maximum=30)) == Autoscaler("web", "web-blue", 3, 30)


def test_an_hpa_without_min_replicas_has_the_api_default_of_one() -> None:
    found = autoscaler_of(hpa("web", "web", minimum=None))
    assert found is not None and found.min_replicas == 1


def test_an_hpa_of_anything_but_a_deployment_is_not_ours() -> None:
    assert autoscaler_of(hpa("db", "db", kind="StatefulSet")) is None


def test_the_manifests_hpa_replaces_the_clusters_of_the_same_name() -> None:
    found = autoscalers_by_target([hpa("web", "web", minimum=2), hpa("other", "api")], [hpa("web", "web", minimum=5)])
    assert found == {"web": Autoscaler("web", "web", 5, 10), "api": Autoscaler("other", "api", 2, 10)}


# -- replicas left to the HPA --------------------------------------------------------------------------


def test_replicas_are_taken_out_only_of_autoscaled_deployments() -> None:
    autoscaled = {"web": Autoscaler("web", "web", 2, 10)}
    web, api = deployment("web"), deployment("api")
    result = leave_replicas_to_autoscalers([web, api], autoscaled)
    assert "replicas" not in result[0].body["spec"]
    assert result[1].body["spec"]["replicas"] == 2
    assert web.body["spec"]["replicas"] == 2  # the rendered manifest itself is left alone
    assert autoscaled_notes(result, autoscaled) == [
        "leave spec.replicas of Deployment/web to HorizontalPodAutoscaler/web (2-10 replicas)"
    ]


def test_our_apply_owns_replicas_only_through_an_apply_entry() -> None:
    assert owns_replicas(live(5, ("pipeline-steps", "Apply", True)), "pipeline-steps")
    assert not owns_replicas(live(5, ("pipeline-steps", "Update", True)), "pipeline-steps")
    assert not owns_replicas(live(5, ("pipeline-steps", "Apply", False)), "pipeline-steps")
    assert not owns_replicas(None, "pipeline-steps")


def test_replicas_our_apply_alone_held_are_handed_over_at_their_live_value() -> None:
    handover = replicas_handover(
        deployment(replicas=None), live(5, ("pipeline-steps", "Apply", True)), "pipeline-steps"
    )
    assert handover == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }


@pytest.mark.parametrize(
    ("manifest", "found"),
    [
        (deployment(replicas=3), live(5, ("pipeline-steps", "Apply", True))),  # the manifest sets them
        (deployment(replicas=None), None),  # a new Deployment
        (deployment(replicas=None), live(5, ("kube-controller-manager", "Update", True))),  # the HPA holds them
    ],
)
def test_no_handover_when_nothing_would_reset(manifest: Manifest, found: dict[str, Any] | None) -> None:
    assert replicas_handover(manifest, found, "pipeline-steps") is None


# -- a role scale-down left at 0 -----------------------------------------------------------------------

HPA = Autoscaler("web-blue", "web-blue", 3, 10)


@pytest.mark.parametrize(
    ("live_replicas", "manifest_replicas", "autoscaler", "active_replicas", "restored"),
    [
        (0, None, HPA, 8, 3),  # an HPA does not scale from 0: its minimum
        (0, 2, HPA, 8, 3),  # the manifest's replicas were left to the HPA
        (0, None, Autoscaler("h", "web-blue", 0, 10), None, 1),  # minReplicas 0 (alpha feature): at least one
        (0, None, None, 8, 8),  # no HPA, no replicas in the manifest: what the active role runs
        (0, None, None, None, 1),  # nothing to go by
        (0, None, None, 0, 1),
        (0, 2, None, 8, None),  # the apply sets the manifest's replicas
        (2, None, HPA, 8, None),  # not at 0
        (None, None, HPA, 8, None),  # a new Deployment
    ],
)
def test_the_replicas_a_role_left_at_zero_needs(
    live_replicas: int | None,
    manifest_replicas: int | None,
    autoscaler: Autoscaler | None,
    active_replicas: int | None,
    restored: int | None,
) -> None:
    assert replicas_to_restore(live_replicas, manifest_replicas, autoscaler, active_replicas) == restored
