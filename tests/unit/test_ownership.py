"""Who else owns what a release moves, read from managedFields as the API server writes them."""

from __future__ import annotations

from typing import Any

from pipeline_steps.kube.ownership import client_side_owners, gitops_claims, owns, upgraded_managed_fields

SELECTOR: dict[str, Any] = {"f:spec": {"f:selector": {"f:app": {}, "f:role": {}}, "f:ports": {}}}


def _entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields, "time": "2026-12-01T12:00:00Z", **extra}  # fmt: skip


def _object(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "web", "managedFields": list(entries)}}


def test_a_field_is_owned_with_anything_under_it() -> None:
    assert owns(SELECTOR, ("spec", "selector"))
    assert owns(SELECTOR, ("spec",))
    assert not owns(SELECTOR, ("spec", "replicas"))
    assert not owns(None, ("spec",))


def test_argo_cd_owning_the_public_selector_is_a_claim_naming_manager_field_and_fix() -> None:
    [claim] = gitops_claims(_object("Service", _entry("argocd-controller", "Apply", SELECTOR)))
    assert str(claim) == "Service/web: spec.selector is owned by argocd-controller (Argo CD)"
    assert "ignoreDifferences" in claim.fix and "managedFieldsManagers: [pipeline-steps]" in claim.fix
    assert "RespectIgnoreDifferences=true" in claim.fix and "/spec/selector" in claim.fix


def test_flux_owning_a_deployments_replicas_is_a_claim() -> None:
    fields: dict[str, Any] = {"f:spec": {"f:replicas": {}, "f:template": {}}}
    [claim] = gitops_claims(_object("Deployment", _entry("kustomize-controller", "Apply", fields)))
    assert (claim.tool, claim.field) == ("Flux", "spec.replicas")
    assert "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent" in claim.fix


def test_fields_a_release_does_not_move_and_other_managers_are_no_claim() -> None:
    assert gitops_claims(_object("Service", _entry("argocd-controller", "Apply", {"f:metadata": {}}))) == []
    assert gitops_claims(_object("Service", _entry("kubectl-edit", "Update", SELECTOR))) == []
    # The autoscaler writes replicas through the scale subresource: another part's concern, not a GitOps claim.
    scale = _entry("argocd-controller", "Update", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    assert gitops_claims(_object("Deployment", scale)) == []


def test_client_side_apply_and_helm_are_taken_over_but_not_edits_or_status() -> None:
    obj = _object(
        "Service",
        _entry("kubectl-client-side-apply", "Update", SELECTOR),
        _entry("helm", "Update", {"f:metadata": {"f:labels": {}}}),
        _entry("kubectl-edit", "Update", {"f:spec": {"f:type": {}}}),
        _entry("kubectl", "Update", {"f:status": {}}, subresource="status"),
    )
    assert client_side_owners(obj) == ["helm", "kubectl-client-side-apply"]


def test_taking_over_moves_the_client_side_fields_into_our_apply_entry_as_csaupgrade_does() -> None:
    ours = _entry("pipeline-steps", "Apply", {"f:spec": {"f:ports": {'k:{"port":80}': {".": {}}}}})
    ours["time"] = "2026-12-01T11:00:00Z"
    edit = _entry("kubectl-edit", "Update", {"f:spec": {"f:type": {}}})
    csa = _entry("kubectl-client-side-apply", "Update", SELECTOR)
    switch = _entry("pipeline-steps", "Update", {"f:spec": {"f:selector": {"f:role": {}}}})
    obj = _object("Service", ours, edit, csa, switch)
    upgraded = upgraded_managed_fields(obj, "pipeline-steps")
    assert upgraded is not None
    assert [(e["manager"], e["operation"]) for e in upgraded] == [
        ("kubectl-edit", "Update"),
        ("pipeline-steps", "Update"),
        ("pipeline-steps", "Apply"),
    ]
    applied = upgraded[-1]
    assert applied["fieldsV1"] == {
        "f:spec": {"f:ports": {'k:{"port":80}': {".": {}}}, "f:selector": {"f:app": {}, "f:role": {}}}
    }
    assert applied["time"] == "2026-12-01T12:00:00Z" and applied["apiVersion"] == "v1"
    # The object read is left as it was.
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:ports": {'k:{"port":80}': {".": {}}}}}


def test_an_object_without_client_side_owners_needs_no_takeover_and_one_without_our_entry_gets_one() -> None:
    assert upgraded_managed_fields(_object("Service", _entry("kubectl-edit", "Update", SELECTOR)), "ps") is None
    [only] = upgraded_managed_fields(_object("Deployment", _entry("helm", "Update", SELECTOR)), "ps") or []
    assert (only["manager"], only["operation"], only["apiVersion"]) == ("ps", "Apply", "apps/v1")
