"""Server-side apply conflicts: who else manages the fields an apply would change, read from the API server's
409 answer, and the error that names them and the ways out.

The answer is a Status whose `details.causes` hold one cause of reason `FieldManagerConflict` per field, e.g. message
`conflict with "kubectl-edit" using apps/v1` and field `.spec.replicas`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline_steps.errors import ApplyConflict

CONFLICT_CAUSE = "FieldManagerConflict"
#: The setting that lets an apply take such fields over.
FORCE_SETTING = "apply.force_conflicts"
_MANAGER = re.compile(r'conflict with "((?:[^"\\]|\\.)*)"(.*)$')


@dataclasses.dataclass(frozen=True)
class FieldConflict:
    manager: str  #: the other field manager's name, e.g. kube-controller-manager
    how: str  #: how it wrote the field, as the server says it: `with subresource "scale" using autoscaling/v1 at ...`
    field: str  #: the field's path, e.g. .spec.replicas


def field_conflicts(status: Mapping[str, Any] | str | bytes | None) -> list[FieldConflict]:
    """The conflicts a 409 Status (as a dict or its JSON text) reports; empty for any other 409 (a stale
    resourceVersion, an object that exists already)."""
    if isinstance(status, str | bytes):
        try:
            status = json.loads(status)
        except ValueError:
            return []
    if not isinstance(status, Mapping):
        return []
    causes = (status.get("details") or {}).get("causes") or []
    found = []
    for cause in causes:
        # A StatusCause's type travels as `reason` in JSON.
        if not isinstance(cause, Mapping) or CONFLICT_CAUSE not in (cause.get("reason"), cause.get("type")):
            continue
        match = _MANAGER.match(str(cause.get("message") or ""))
        manager, how = (match.group(1), match.group(2).strip()) if match else (str(cause.get("message")), "")
        found.append(FieldConflict(manager, how, str(cause.get("field") or "?")))
    return found


def only_managers(conflicts: Iterable[FieldConflict], managers: Iterable[str]) -> bool:
    """Every conflicting field is held by one of `managers` (our own: an earlier patch of ours, the replicas
    handover): taking those over changes no one else's choice."""
    ours = set(managers)
    listed = list(conflicts)
    return bool(listed) and all(c.manager in ours for c in listed)


def conflict_error(kind: str, name: str, conflicts: Iterable[FieldConflict]) -> ApplyConflict:
    """The error for an apply that other managers' fields stopped: each field with its manager, and the fix."""
    by_manager: dict[str, list[str]] = {}
    for conflict in conflicts:
        who = conflict.manager + (f" ({_short(conflict.how)})" if _short(conflict.how) else "")
        by_manager.setdefault(who, []).append(conflict.field)
    named = "; ".join(f"{who} manages {', '.join(fields)}" for who, fields in by_manager.items())
    replicas = any(field == ".spec.replicas" for fields in by_manager.values() for field in fields)
    hint = (
        f"set `{FORCE_SETTING}: true` in pipeline.yaml to take these fields over, or have the other manager "
        "stop managing them (remove them from its configuration, or the field from the manifest)"
    )
    if replicas:
        hint += "; for .spec.replicas owned by an autoscaler, remove `replicas` from the manifest or keep the " + (
            "HorizontalPodAutoscaler (pipeline-steps then leaves replicas to it)"
        )
    return ApplyConflict(
        f"apply {kind}/{name}: fields the manifest sets are managed by others: {named}", status=409, hint=hint
    )


def _short(how: str) -> str:
    """`with subresource "scale" using autoscaling/v1 at 2025-...` -> `subresource scale`: the time and version
    are noise in a message a person reads."""
    match = re.search(r'with subresource "([^"]+)"', how)
    return f"subresource {match.group(1)}" if match else ""
