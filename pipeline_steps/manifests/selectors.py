"""Label selectors as the API server evaluates them, and the pod labels each workload kind creates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline_steps.manifests.model import Manifest

#: Kinds whose pods come from spec.template, and the path to that template's labels.
_TEMPLATE_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "metadata", "labels"),
    "StatefulSet": ("spec", "template", "metadata", "labels"),
    "DaemonSet": ("spec", "template", "metadata", "labels"),
    "ReplicaSet": ("spec", "template", "metadata", "labels"),
    "ReplicationController": ("spec", "template", "metadata", "labels"),
    "Job": ("spec", "template", "metadata", "labels"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
    "Pod": ("metadata", "labels"),
}


def dig(body: Mapping[str, Any], *path: str) -> Any:
    """The value at `path`, or None where any step is missing or not a mapping."""
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def string_map(value: Any) -> dict[str, str]:
    return {str(key): str(item) for key, item in value.items()} if isinstance(value, Mapping) else {}


def pod_labels(manifest: Manifest) -> dict[str, str] | None:
    """The labels of the pods `manifest` creates; None when it creates no pods."""
    path = _TEMPLATE_LABEL_PATHS.get(manifest.kind)
    return None if path is None else string_map(dig(manifest.body, *path))


def pod_spec_path(manifest: Manifest) -> tuple[str, ...] | None:
    """Where the spec of the pods `manifest` creates is (e.g. spec.template.spec); None when it creates none."""
    path = _TEMPLATE_LABEL_PATHS.get(manifest.kind)
    return None if path is None else (*path[:-2], "spec")


def map_selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service-style selector: every key present with the same value."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_selector_selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector (`matchLabels` and `matchExpressions`)."""
    if not map_selects(string_map(selector.get("matchLabels")), labels):
        return False
    expressions = selector.get("matchExpressions")
    for expression in expressions if isinstance(expressions, list) else []:
        if not isinstance(expression, Mapping):
            return False
        key, operator = str(expression.get("key")), expression.get("operator")
        values = {str(value) for value in expression.get("values") or []}
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def show_labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in labels.items()) + "}"
