"""Approval decisions recorded on the cluster, as annotations of the app's run record (a ConfigMap).

`pipeline-steps approve|reject` write them; confirm in `wait` mode follows them by watch. The record names
the run it waits for, so a decision meant for another run is refused; the check and the write are one
JSON patch, so that holds against a run that opens its request at the same moment. A run that stops waiting
(timeout, interrupt) closes its request, so a late decision is refused too. Who may write the record is
decided by the cluster's RBAC; the approver names listed in the config are a second check on top of it,
made by `approve` and again by the waiting run.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence
from typing import Any

from pipeline_steps.errors import ApprovalRejected, ClusterError, ConfigError
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX, FIELD_MANAGER, KubeCluster, WaitTimeout
from pipeline_steps.kube.errors import call

RUN_ID = ANNOTATION_PREFIX + "run-id"
DECISION = ANNOTATION_PREFIX + "decision"
DECIDED_BY = ANNOTATION_PREFIX + "decided-by"
DECIDED_AT = ANNOTATION_PREFIX + "decided-at"
COMMENT = ANNOTATION_PREFIX + "comment"
AWAITING = "awaiting"
DECISIONS = ("approved", "rejected")
#: Who decided when nobody did in time (confirm.timeout, confirm.on_timeout).
TIMEOUT_DECIDER = "pipeline-steps (confirm.timeout)"
#: Who closed a request that the waiting run gave up on (interrupted, or its e-mail not sent).
CANCEL_DECIDER = "pipeline-steps"
CANCELLED = "cancelled"


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


def honoured(decision: Decision, allowed: Sequence[str]) -> bool:
    """Whether an approval lets the release go on: approved, by an allowed approver or by the timeout's
    default (confirm.on_timeout: approve). Confirm and switch both decide by this."""
    if decision.decision != "approved":
        return False
    return not allowed or decision.by in allowed or decision.by == TIMEOUT_DECIDER


def blocks_switch(decision: Decision | None, run_id: str, allowed: Sequence[str]) -> str | None:
    """Why the record forbids switching for `run_id`, or None. A record of another run (or none: the
    decision was a CI gate's) says nothing about this one."""
    if decision is None or decision.run_id != run_id or honoured(decision, allowed):
        return None
    if decision.decision == AWAITING:
        return f"run {run_id} still awaits a decision at confirm"
    if decision.decision == "approved":
        return f"run {run_id} was approved by {decision.by}, who is not in confirm.approvers"
    return f"run {run_id} was {decision.decision} at confirm" + (f" by {decision.by}" if decision.by else "")


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
        },
        # The record is ours: whoever wrote a decision on it by hand, a new request clears it.
        force=True,
    )


def _refusal(current: Decision | None, app: str, namespace: str, run_id: str) -> ConfigError | None:
    """Why a decision for `run_id` cannot be recorded on a record holding `current`; None if it can."""
    if current is None:
        return ConfigError(
            f"no release of {app} is waiting for a decision in namespace {namespace}",
            hint="check --namespace and the config; confirm must be running in `wait` mode",
        )
    if current.run_id != run_id:
        return ConfigError(
            f"the release waiting for a decision is run {current.run_id}, not {run_id}",
            field="--run-id",
            hint="decide the run that is waiting, with its run id",
        )
    if current.decision != AWAITING:
        return ConfigError(f"run {run_id} was already {current.decision} by {current.by} at {current.at}")
    return None


def _json_pointer(key: str) -> str:
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def _decide_if_awaiting(cluster: KubeCluster, app: str, run_id: str, annotations: dict[str, str]) -> bool:
    """Write `annotations` only while the record awaits a decision for `run_id`: JSON patch `test` operations
    make the check and the write one step on the server, so a decision can never land on another run's
    request (opened between our read and our write) or overwrite a decision made a moment earlier.
    False when the record no longer awaits this run."""
    name = record_name(app)
    operations: list[dict[str, str]] = [
        {"op": "test", "path": _json_pointer(RUN_ID), "value": run_id},
        {"op": "test", "path": _json_pointer(DECISION), "value": AWAITING},
    ]
    operations += [{"op": "add", "path": _json_pointer(key), "value": value} for key, value in annotations.items()]
    resource = cluster.resource("v1", "ConfigMap")
    try:
        call(
            f"patch ConfigMap/{name}",
            lambda: resource.patch(
                name=name,
                namespace=cluster.namespace,
                body=operations,
                content_type="application/json-patch+json",
                field_manager=FIELD_MANAGER,
            ),
        )
    except ClusterError as exc:
        if exc.retryable:
            raise
        # A failed `test` is a 422; anything else is a real error. Tell them apart by what the record says.
        current = decision_of(cluster.get("v1", "ConfigMap", name))
        if current is not None and current.run_id == run_id and current.decision == AWAITING:
            raise
        return False
    return True


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
    refusal = _refusal(decision_of(cluster.get("v1", "ConfigMap", record_name(app))), app, cluster.namespace, run_id)
    if refusal:
        raise refusal
    annotations = {DECISION: decision, DECIDED_BY: approver, DECIDED_AT: _now(), COMMENT: comment}
    if not _decide_if_awaiting(cluster, app, run_id, annotations):
        # The record changed between the read above and the write: say what it holds now.
        current = decision_of(cluster.get("v1", "ConfigMap", record_name(app)))
        raise _refusal(current, app, cluster.namespace, run_id) or ConfigError(
            f"the approval record of run {run_id} changed while deciding", hint="run the command again"
        )
    return Decision(run_id, decision, approver, annotations[DECIDED_AT], comment)


def close_request(
    cluster: KubeCluster, app: str, run_id: str, *, decision: str, by: str, comment: str = ""
) -> Decision | None:
    """The waiting run closes its own request (timed out, interrupted, e-mail not sent), so that a late
    `approve` is refused instead of reporting a decision nobody acts on.

    Returns the decision that stands: this one, or a person's that arrived a moment earlier (the caller
    honours it); None when the record has moved on to another run."""
    annotations = {DECISION: decision, DECIDED_BY: by, DECIDED_AT: _now(), COMMENT: comment}
    if _decide_if_awaiting(cluster, app, run_id, annotations):
        return Decision(run_id, decision, by, annotations[DECIDED_AT], comment)
    current = decision_of(cluster.get("v1", "ConfigMap", record_name(app)))
    return current if current is not None and current.run_id == run_id else None


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
