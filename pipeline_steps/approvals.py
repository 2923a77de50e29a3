"""Approval decisions recorded on the cluster, as annotations of the app's run record (a ConfigMap).

`pipeline-steps approve|reject` write them; confirm in `wait` mode follows them by watch. The record names
the run it waits for, so a decision meant for another run is refused. Who may write the record is decided
by the cluster's RBAC; the approver names listed in the config are a second check on top of it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence
from typing import Any

from pipeline_steps.errors import ApprovalRejected, ConfigError
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX, KubeCluster, WaitTimeout

RUN_ID = ANNOTATION_PREFIX + "run-id"
DECISION = ANNOTATION_PREFIX + "decision"
DECIDED_BY = ANNOTATION_PREFIX + "decided-by"
DECIDED_AT = ANNOTATION_PREFIX + "decided-at"
COMMENT = ANNOTATION_PREFIX + "comment"
AWAITING = "awaiting"
DECISIONS = ("approved", "rejected")


def record_name(app: str) -> str:
    return f"pipeline-steps-{app}"


@dataclasses.dataclass(frozen=True)
class Decision:
    run_id: str
    decision: str  #: awaiting | approved | rejected
    by: str = ""
    at: str = ""
    comment: str = ""


def decision_of(record: dict[str, Any] | None) -> Decision | None:
    """The decision an approval record holds. Pure, so it is tested."""
    if not record:
        return None
    annotations = (record.get("metadata") or {}).get("annotations") or {}
    if RUN_ID not in annotations:
        return None
    return Decision(
        run_id=annotations[RUN_ID],
        decision=annotations.get(DECISION, AWAITING),
        by=annotations.get(DECIDED_BY, ""),
        at=annotations.get(DECIDED_AT, ""),
        comment=annotations.get(COMMENT, ""),
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_request(cluster: KubeCluster, app: str, run_id: str) -> None:
    """Mark the record as awaiting a decision for `run_id`, clearing any earlier run's decision."""
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": record_name(app),
                "labels": {"app.kubernetes.io/managed-by": "pipeline-steps"},
                "annotations": {RUN_ID: run_id, DECISION: AWAITING, DECIDED_BY: "", DECIDED_AT: "", COMMENT: ""},
            },
        }
    )


def record_decision(
    cluster: KubeCluster,
    app: str,
    *,
    run_id: str,
    decision: str,
    approver: str,
    allowed: Sequence[str],
    comment: str = "",
) -> Decision:
    """What `pipeline-steps approve|reject` does. Refuses a decision for another run, a second decision,
    and an approver not in `allowed` (when it is not empty)."""
    assert decision in DECISIONS
    if allowed and approver not in allowed:
        raise ConfigError(
            f"{approver!r} may not decide releases of {app}",
            field="confirm.approvers",
            hint=f"allowed: {', '.join(allowed)}; pass --approver NAME",
        )
    current = decision_of(cluster.get("v1", "ConfigMap", record_name(app)))
    if current is None:
        raise ConfigError(
            f"no release of {app} is waiting for a decision in namespace {cluster.namespace}",
            hint="check --namespace and the config; confirm must be running in `wait` mode",
        )
    if current.run_id != run_id:
        raise ConfigError(
            f"the release waiting for a decision is run {current.run_id}, not {run_id}",
            field="--run-id",
            hint="decide the run that is waiting, with its run id",
        )
    if current.decision != AWAITING:
        raise ConfigError(f"run {run_id} was already {current.decision} by {current.by} at {current.at}")
    annotations = {DECISION: decision, DECIDED_BY: approver, DECIDED_AT: _now(), COMMENT: comment}
    cluster.merge_patch("v1", "ConfigMap", record_name(app), {"metadata": {"annotations": annotations}})
    return Decision(run_id, decision, approver, annotations[DECIDED_AT], comment)


def wait_for_decision(
    cluster: KubeCluster, app: str, run_id: str, *, timeout: float, progress: Callable[[str], None]
) -> Decision | None:
    """Follow the record by watch until a decision for `run_id` arrives; None on timeout."""
    name = record_name(app)

    def decided(objects: dict[str, dict[str, Any]]) -> bool:
        found = decision_of(objects.get(name))
        return found is not None and found.run_id == run_id and found.decision != AWAITING

    def moved_on(objects: dict[str, dict[str, Any]]) -> str | None:
        found = decision_of(objects.get(name))
        return f"run {found.run_id} took over the record" if found and found.run_id != run_id else None

    try:
        objects = cluster.wait(
            "v1",
            "ConfigMap",
            name=name,
            done=decided,
            failed=moved_on,
            describe=lambda _: f"waiting for approve or reject of run {run_id}",
            timeout=timeout,
            on_progress=progress,
        )
    except WaitTimeout:
        return None
    reason = moved_on(objects)
    if reason:
        raise ApprovalRejected(f"approval of run {run_id} abandoned: {reason}")
    return decision_of(objects.get(name))
