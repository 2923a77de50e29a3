"""What an apply would change: the live object against the server's dry-run answer, as a unified diff."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

import yaml

# Written by the server or by controllers on every object; never part of what a release changes.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
_VOLATILE_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


def comparable(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """The object without status and server-managed metadata."""
    if not obj:
        return {}
    result = copy.deepcopy(dict(obj))
    result.pop("status", None)
    metadata = result.get("metadata") or {}
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    for key in _VOLATILE_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        metadata.pop("annotations", None)
    return result


def object_diff(live: Mapping[str, Any] | None, planned: Mapping[str, Any], label: str) -> str:
    """A unified diff from the live object to the planned one; empty when applying changes nothing."""
    before, after = comparable(live), comparable(planned)
    if before == after:
        return ""
    old = yaml.safe_dump(before, sort_keys=True).splitlines(keepends=True) if before else []
    new = yaml.safe_dump(after, sort_keys=True).splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"live/{label}", f"planned/{label}"))
