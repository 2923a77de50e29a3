"""Upgrade of API versions that clusters no longer serve.

The apps workloads of extensions/v1beta1, apps/v1beta1 and apps/v1beta2 convert to apps/v1 mechanically, so
they are converted, with a warning. What apps/v1 defaults differently is handled by one rule: a default that
decides how pods are replaced on the next apply (the rolling update pace, OnDelete updates) is kept explicit,
because changing it silently would change what a release does to running pods; a default that is
housekeeping (revision history, the progress deadline) takes the apps/v1 value, and the warning says so.
Anything else removed (Ingress, CronJob, PodDisruptionBudget, HPA betas...) is an error naming the fix.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline_steps.errors import RenderError
from pipeline_steps.manifests.removed_apis import REMOVED_APIS

_WORKLOAD_VERSIONS = {"extensions/v1beta1": "1.16", "apps/v1beta1": "1.16", "apps/v1beta2": "1.16"}
_WORKLOAD_KINDS = ("Deployment", "DaemonSet", "ReplicaSet", "StatefulSet")
_INGRESS_VERSIONS = ("extensions/v1beta1", "networking.k8s.io/v1beta1")
_REMOVED_FIELDS = {
    "rollbackTo": "roll back with `kubectl rollout undo` (or this tool's rollback) instead of a field",
    "templateGeneration": "apps/v1 tracks DaemonSet revisions itself",
}


def upgrade_legacy(body: dict[str, Any], where: str) -> tuple[dict[str, Any], str | None]:
    """Return `body` in a served API version and a warning when it was converted; RenderError when not possible.

    `where` is the object's `file:line (Kind/name)`. The given body is never modified.
    """
    api_version, kind = body["apiVersion"], body["kind"]
    if kind in _WORKLOAD_KINDS and api_version in _WORKLOAD_VERSIONS:
        return _convert_workload(body, where)
    if kind == "Ingress" and api_version in _INGRESS_VERSIONS:
        raise _ingress_error(body, where)
    removed = REMOVED_APIS.get((api_version, kind))
    if removed is None:
        return body, None
    served = f"{api_version} {kind} is no longer served (removed in Kubernetes {removed.removed_in})"
    if removed.replacement is None:
        raise RenderError(served, source=where, hint=removed.changes)
    also = removed.changes or "nothing else changes"
    raise RenderError(
        f"{served}; use apiVersion: {removed.replacement}",
        source=where,
        field="apiVersion",
        hint=f"change apiVersion to {removed.replacement}; {also}",
    )


def _convert_workload(body: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    api_version, kind = str(body["apiVersion"]), str(body["kind"])
    spec = _mapping(body.get("spec"))
    present = [field for field in _REMOVED_FIELDS if field in spec]
    if present:
        fields = " and ".join(f"spec.{field}" for field in present)
        raise RenderError(
            f"{api_version} is no longer served and apps/v1 has no {fields}; remove {fields} from the manifest",
            source=where,
            field=f"spec.{present[0]}",
            hint="; ".join(_REMOVED_FIELDS[field] for field in present),
        )
    converted = copy.deepcopy(body)
    converted["apiVersion"] = "apps/v1"
    new_spec = converted["spec"] = _mapping(converted.get("spec"))
    notes = [_default_selector(new_spec, api_version, where)]
    notes += _keep_old_defaults(new_spec, api_version, kind)
    notes += _changed_defaults(new_spec, api_version, kind)
    served = f"{api_version} is no longer served (removed in Kubernetes {_WORKLOAD_VERSIONS[api_version]})"
    details = "; ".join(note for note in notes if note)
    warning = (
        f"{where}: {served}; converted to apps/v1{': ' + details if details else ''}. "
        "Write apiVersion: apps/v1 and these fields into the file to silence this warning"
    )
    return converted, warning


def _default_selector(spec: dict[str, Any], api_version: str, where: str) -> str:
    if spec.get("selector") is not None:
        return ""
    template = spec.get("template")
    labels = _mapping(_mapping(_mapping(template).get("metadata")).get("labels"))
    if not labels:
        raise RenderError(
            "apps/v1 requires spec.selector, and spec.template.metadata.labels is empty, so there is nothing "
            "to take it from",
            source=where,
            field="spec.selector",
            hint="add labels to spec.template.metadata.labels and the same labels to spec.selector.matchLabels",
        )
    selector = {"matchLabels": dict(labels)}
    # Placed before the template, where people look for it when reading the rendered output.
    reordered = {key: value for key, value in spec.items() if key != "template"}
    reordered["selector"] = selector
    if template is not None:
        reordered["template"] = template
    spec.clear()
    spec.update(reordered)
    shown = ", ".join(f"{key}: {value}" for key, value in labels.items())
    return (
        f"set spec.selector.matchLabels to the template labels {{{shown}}}, as {api_version} defaulted it "
        "(apps/v1 requires it and it cannot change after creation)"
    )


def _keep_old_defaults(spec: dict[str, Any], api_version: str, kind: str) -> list[str]:
    if kind == "Deployment" and api_version == "extensions/v1beta1":
        strategy = spec.setdefault("strategy", {})
        if not isinstance(strategy, dict) or strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return []
        rolling = strategy.setdefault("rollingUpdate", {})
        if not isinstance(rolling, dict):
            return []
        kept = [key for key in ("maxSurge", "maxUnavailable") if key not in rolling]
        for key in kept:
            rolling[key] = 1
        if not kept:
            return []
        fields = " and ".join(f"{key}: 1" for key in kept)
        return [f"kept the old {fields} explicit in spec.strategy.rollingUpdate (apps/v1 would default to 25%)"]
    old_on_delete = (kind == "DaemonSet" and api_version == "extensions/v1beta1") or (
        kind == "StatefulSet" and api_version == "apps/v1beta1"
    )
    if old_on_delete:
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict) and "type" not in strategy:
            strategy["type"] = "OnDelete"
            return [
                "kept the old spec.updateStrategy.type: OnDelete explicit (apps/v1 defaults to RollingUpdate, "
                "which replaces every pod when the template changes); remove it to have releases roll pods"
            ]
    return []


def _changed_defaults(spec: dict[str, Any], api_version: str, kind: str) -> list[str]:
    if kind != "Deployment":
        return []
    changed: list[str] = []
    if "revisionHistoryLimit" not in spec and api_version in ("extensions/v1beta1", "apps/v1beta1"):
        old = "unlimited" if api_version == "extensions/v1beta1" else "2"
        changed.append(f"revisionHistoryLimit is now 10 (was {old})")
    if "progressDeadlineSeconds" not in spec and api_version == "extensions/v1beta1":
        changed.append("progressDeadlineSeconds is now 600 (was no deadline: a stuck rollout now fails)")
    return [f"apps/v1 defaults apply: {', '.join(changed)}"] if changed else []


def _ingress_error(body: dict[str, Any], where: str) -> RenderError:
    spec = _mapping(body.get("spec"))
    changes: list[str] = []
    if isinstance(spec.get("backend"), dict):
        changes.append("spec.backend: rename to spec.defaultBackend and " + _backend_change(spec["backend"]))
    rules = spec.get("rules")
    for rule_index, rule in enumerate(rules if isinstance(rules, list) else []):
        paths = _mapping(_mapping(rule).get("http")).get("paths")
        for path_index, path in enumerate(paths if isinstance(paths, list) else []):
            if not isinstance(path, dict):
                continue
            field = f"spec.rules[{rule_index}].http.paths[{path_index}]"
            if isinstance(path.get("backend"), dict) and "service" not in path["backend"]:
                changes.append(f"{field}.backend: {_backend_change(path['backend'])}")
            if "pathType" not in path:
                changes.append(f"{field}: add pathType")
    listed = "".join(f"\n  - {change}" for change in changes)
    return RenderError(
        f"{body['apiVersion']} Ingress is no longer served (removed in Kubernetes 1.22) and is not converted "
        f"automatically; change apiVersion to networking.k8s.io/v1{' and:' if changes else ''}{listed}",
        source=where,
        field="apiVersion",
        hint=(
            "a networking.k8s.io/v1 backend is `service: {name: web, port: {number: 80}}` (`port: {name: http}` "
            "for a named port); pathType is required on every path: Prefix, Exact, or ImplementationSpecific "
            "(which keeps the v1beta1 matching)"
        ),
    )


def _backend_change(backend: dict[str, Any]) -> str:
    name = backend.get("serviceName", "...")
    port = backend.get("servicePort", "...")
    port_field = "name" if isinstance(port, str) and port != "..." else "number"
    return f"write serviceName/servicePort as service: {{name: {name}, port: {{{port_field}: {port}}}}}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
