"""Undoing exactly what one run changed, and nothing else.

Before deploy applies, it records each object it is about to change as it was: a Deployment's revision, a
ConfigMap's data, another object's spec, or that it did not exist. An undo (a rolling release whose rollout
or verify-prod failed) puts back those records: the Deployment to the revision it had (not "the one before
the current", which may be a release nobody asked for), the ConfigMap to its data. Objects this run
created stay (a first release has nothing to go back to), and Secrets' values are never kept (they would
land in the state file): both are said in the undo's summary."""

from __future__ import annotations

from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RolloutFailed
from pipeline_steps.render import Manifest

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
#: Fields restored per kind; other kinds get their spec back.
_CONTENT_FIELDS = {"ConfigMap": ("data", "binaryData")}


def revision_of(deployment: dict[str, Any] | None) -> int:
    annotations = ((deployment or {}).get("metadata") or {}).get("annotations") or {}
    return int(annotations.get(REVISION_ANNOTATION) or 0)


def record_before(manifest: Manifest, live: dict[str, Any] | None) -> dict[str, Any]:
    """What to put back if this run's change to `manifest` is undone."""
    record: dict[str, Any] = {
        "api_version": manifest.api_version,
        "kind": manifest.kind,
        "name": manifest.name,
        "existed": live is not None,
    }
    if live is None or manifest.kind == "Secret":
        return record
    if manifest.kind == "Deployment":
        record["revision"] = revision_of(live)
    else:
        fields = _CONTENT_FIELDS.get(manifest.kind, ("spec",))
        record["content"] = {field: live.get(field) for field in fields if field in live}
    return record


def record_field(api_version: str, kind: str, name: str, field: str, value: Any) -> dict[str, Any]:
    """What to put back when one field (dotted path, e.g. spec.minReplicas) is changed for a while, not the
    whole object: the capacity a switch raises."""
    return {"api_version": api_version, "kind": kind, "name": name, "existed": True, "field": field, "value": value}


def _nested(field: str, value: Any) -> dict[str, Any]:
    """spec.minReplicas, 3 -> {"spec": {"minReplicas": 3}}: a merge patch of that one field."""
    patch: dict[str, Any] = {}
    level = patch
    *parents, last = field.split(".")
    for key in parents:
        level = level.setdefault(key, {})
    level[last] = value
    return patch


def undo_changes(ctx: ReleaseContext, records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Put back every recorded object; returns (what was undone, what was left and why). Deployments last, so
    their pods start with the configuration they had."""
    undone: list[str] = []
    left: list[str] = []
    for record in sorted(records, key=lambda r: r["kind"] == "Deployment"):
        label = f"{record['kind']}/{record['name']}"
        if not record["existed"]:
            left.append(f"{label} (created by this run)")
        elif "field" in record:
            patch = _nested(record["field"], record["value"])
            ctx.cluster.merge_patch(record["api_version"], record["kind"], record["name"], patch)
            undone.append(f"{label} {record['field']} to {record['value']}")
        elif record["kind"] == "Secret":
            left.append(f"{label} (a Secret's earlier value is not kept)")
        elif record["kind"] == "Deployment":
            revision = undo_deployment(ctx, record["name"], to_revision=int(record["revision"]))
            undone.append(f"{record['name']} to revision {revision}")
        else:
            body = {
                "apiVersion": record["api_version"],
                "kind": record["kind"],
                "metadata": {"name": record["name"]},
                **{field: value for field, value in record["content"].items() if value is not None},
            }
            ctx.cluster.apply(body)
            undone.append(f"{label} to its earlier {', '.join(record['content']) or 'content'}")
    return undone, left


def template_of_revision(
    ctx: ReleaseContext, deployment: dict[str, Any], revision: int | None = None
) -> tuple[int, dict[str, Any]] | None:
    """The pod template of `revision` (default: the one before the current), from the Deployment's ReplicaSets."""
    selector = (deployment.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    uid = deployment["metadata"]["uid"]
    current = revision_of(deployment)
    candidates = []
    for replica_set in ctx.cluster.list("apps/v1", "ReplicaSet", label_selector=label_selector):
        owners = replica_set["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == uid for o in owners):
            continue
        found = revision_of(replica_set)
        if (revision is None and 0 < found < current) or (revision is not None and found == revision):
            candidates.append((found, replica_set))
    if not candidates:
        return None
    found, replica_set = max(candidates, key=lambda pair: pair[0])
    template = dict(replica_set["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
    return found, template


def undo_deployment(ctx: ReleaseContext, name: str, *, to_revision: int | None = None) -> int:
    """Put the Deployment back on a revision's template (default: the one before the current, as
    `kubectl rollout undo` does); a no-op when it already runs that revision."""
    deployment = ctx.cluster.get("apps/v1", "Deployment", name)
    if deployment is None:
        raise RolloutFailed(f"cannot undo deployment {name}: it does not exist")
    previous = template_of_revision(ctx, deployment, to_revision)
    # The revision may not have moved while the template did: a paused Deployment records a new template without
    # making its ReplicaSet (nor has a controller that is behind). Only the same template is nothing to undo.
    unmoved = to_revision is not None and to_revision == revision_of(deployment)
    if unmoved and (previous is None or previous[1] == _without_hash(deployment["spec"]["template"])):
        return int(to_revision or 0)
    if previous is None:
        which = f"revision {to_revision}" if to_revision else "an earlier revision"
        raise RolloutFailed(f"cannot undo deployment {name}: it has no {which} (first release, or history pruned)")
    revision, template = previous
    ctx.progress(f"undoing deployment {name} to revision {revision}")
    ctx.cluster.replace_field("apps/v1", "Deployment", name, "/spec/template", template)
    return revision


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    return {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}
