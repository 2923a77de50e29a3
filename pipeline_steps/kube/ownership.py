"""Who else owns the fields a release moves, read from an object's managedFields: pure functions, so each rule is
tested.

Two kinds of other owner matter. A GitOps controller (Argo CD with self-heal, Flux) puts the public Service's
selector and a Deployment's replicas back to what Git says: traffic flips back silently while the release's
annotations say otherwise. A release refuses such an object before it changes anything, naming the controller,
the field and how to hand the field over. An object first created by client-side `kubectl apply` or by Helm is
owned by that manager's Update entry: its fields are taken over once, as `kubectl apply --server-side` does
(k8s.io/client-go/util/csaupgrade), so that applying without forcing meets no conflict and a field dropped from
the manifests is removed rather than left to an owner nobody runs any more."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

#: Managers that reconcile continuously (they write back what Git says), by the field manager name they use,
#: with the tool's name and how to leave a field to another manager.
GITOPS_MANAGERS: dict[str, tuple[str, str]] = {
    "argocd-controller": (
        "Argo CD",
        "add to the Application `ignoreDifferences: [{group: {group}, kind: {kind}, name: {name}, "
        "managedFieldsManagers: [pipeline-steps]}]` and the sync option `RespectIgnoreDifferences=true` (or "
        "`jsonPointers: [{pointer}]`), so that Argo CD stops applying {field}",
    ),
    "argocd-application-controller": ("Argo CD", ""),
    "kustomize-controller": (
        "Flux",
        "remove {field} from the manifest in Git, or annotate the object in Git with "
        "`kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`, so that Flux stops applying it",
    ),
    "helm-controller": (
        "Flux (helm-controller)",
        "leave {field} out of the chart's rendered object, or let pipeline-steps release the app instead of the "
        "HelmRelease",
    ),
    "fleet-agent": ("Rancher Fleet", "list {field} under the bundle's `diff.comparePatches` and leave it out of Git"),
}
GITOPS_MANAGERS["argocd-application-controller"] = (
    "Argo CD",
    GITOPS_MANAGERS["argocd-controller"][1],
)

#: Update-entry managers of client-side apply (and of Helm's three-way merge), whose fields a release takes over
#: once: `kubectl apply` (named `kubectl` before 1.18), the entry the API server makes for objects older than
#: managed fields, and Helm 3.
CLIENT_SIDE_MANAGERS = frozenset({"kubectl-client-side-apply", "kubectl", "before-first-apply", "helm"})

#: The fields a release moves, per kind, as managedFields paths.
GUARDED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Service": (("spec", "selector"),),
    "Deployment": (("spec", "replicas"),),
}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A GitOps controller owns a field a release moves."""

    kind: str
    name: str
    manager: str
    tool: str
    field: str  #: e.g. spec.selector
    fix: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.field} is owned by {self.manager} ({self.tool})"


def _entries(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((obj.get("metadata") or {}).get("managedFields")) or [])


def _main_resource(entry: Mapping[str, Any]) -> bool:
    """An entry of the object itself, not of a subresource (status, scale: the HPA's replicas are another matter)."""
    return not entry.get("subresource")


def owns(fields: Mapping[str, Any] | None, path: Iterable[str]) -> bool:
    """Whether a FieldsV1 set holds `path` or anything under it (a selector's keys are owned one by one)."""
    node: Mapping[str, Any] | None = fields
    for part in path:
        if not isinstance(node, Mapping) or f"f:{part}" not in node:
            return False
        node = node[f"f:{part}"]
    return True


def gitops_claims(obj: Mapping[str, Any]) -> list[Claim]:
    """The guarded fields of `obj` that a GitOps controller owns."""
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "?")
    group = str(obj.get("apiVersion") or "v1").rpartition("/")[0]
    claims: list[Claim] = []
    for entry in _entries(obj):
        manager = str(entry.get("manager") or "")
        if manager not in GITOPS_MANAGERS or not _main_resource(entry):
            continue
        tool, fix = GITOPS_MANAGERS[manager]
        for path in GUARDED_FIELDS.get(kind, ()):
            if owns(entry.get("fieldsV1"), path):
                field = ".".join(path)
                pointer = "/" + "/".join(path)
                text = (
                    fix.replace("{group}", f'"{group}"')
                    .replace("{kind}", kind)
                    .replace("{name}", name)
                    .replace("{field}", field)
                    .replace("{pointer}", pointer)
                )
                claims.append(Claim(kind, name, manager, tool, field, text))
    return claims


def client_side_owners(obj: Mapping[str, Any]) -> list[str]:
    """The client-side managers (kubectl apply, Helm) whose fields a release would take over."""
    return sorted(
        {
            str(e.get("manager"))
            for e in _entries(obj)
            if e.get("manager") in CLIENT_SIDE_MANAGERS and e.get("operation") == "Update" and _main_resource(e)
        }
    )


def _union(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The union of two FieldsV1 sets (nested maps whose leaves are empty maps)."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _union(into[key], value)
        else:
            into[key] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else value
    return into


def upgraded_managed_fields(obj: Mapping[str, Any], manager: str) -> list[dict[str, Any]] | None:
    """`obj`'s managedFields with the client-side managers' fields moved into `manager`'s Apply entry, as
    csaupgrade.UpgradeManagedFields does for `kubectl apply --server-side`; None when there is nothing to move."""
    entries = _entries(obj)
    moving = [
        e
        for e in entries
        if e.get("manager") in CLIENT_SIDE_MANAGERS and e.get("operation") == "Update" and _main_resource(e)
    ]
    if not moving:
        return None
    ours = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply" and _main_resource(e)),
        None,
    )
    fields: dict[str, Any] = copy.deepcopy(dict(ours.get("fieldsV1") or {})) if ours else {}
    for entry in moving:
        _union(fields, entry.get("fieldsV1") or {})
    latest = max((str(e.get("time") or "") for e in [*moving, *([ours] if ours else [])]), default="")
    upgraded = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": (ours or {}).get("apiVersion") or obj.get("apiVersion") or moving[0].get("apiVersion"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **({"time": latest} if latest else {}),
    }
    kept = [copy.deepcopy(e) for e in entries if e is not ours and not any(e is m for m in moving)]
    return [*kept, upgraded]
