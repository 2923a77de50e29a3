"""Waiting for Deployments to roll out: by watch, with the pods' reasons shown while it waits, an early end
when a reason is certain to last, and the pods named when it fails."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ClusterError, RolloutFailed
from pipeline_steps.kube.cluster import WaitTimeout
from pipeline_steps.kube.pod_problems import PodProblem, current_pods, describe, largest_node, pod_problems
from pipeline_steps.kube.readiness import rollout_status

#: How often a wait that sees no progress looks at the pods' reasons (the watch itself follows the Deployment).
DIAGNOSE_EVERY_S = 10.0


def wait_rollouts(ctx: ReleaseContext, names: Sequence[str], timeout: float, *, at_least_one: bool = False) -> None:
    """Wait until every named Deployment has rolled out; RolloutFailed naming the pods' reasons past the deadline,
    at once when the Deployment itself failed, or early when a pod's reason is certain to last. `at_least_one`:
    a Deployment at 0 replicas is not done (see readiness.rollout_status)."""
    deadline = time.monotonic() + timeout
    for name in names:
        _wait_one(ctx, name, deadline, timeout, at_least_one)


def _wait_one(ctx: ReleaseContext, name: str, deadline: float, timeout: float, at_least_one: bool) -> None:
    def done(objects: dict[str, dict[str, Any]]) -> bool:
        return name in objects and rollout_status(objects[name], at_least_one=at_least_one).done

    def failed(objects: dict[str, dict[str, Any]]) -> str | None:
        if name not in objects:
            return None
        status = rollout_status(objects[name])
        if status.failed:
            return status.message
        return _replica_failure(objects[name]) or _paused(objects[name])

    def describe_deployment(objects: dict[str, dict[str, Any]]) -> str:
        if name not in objects:
            return f"deployment {name}: not found"
        return rollout_status(objects[name], at_least_one=at_least_one).message

    while True:
        remaining = deadline - time.monotonic()
        try:
            objects = ctx.cluster.wait(
                "apps/v1",
                "Deployment",
                name=name,
                done=done,
                failed=failed,
                describe=describe_deployment,
                timeout=max(1.0, min(remaining, DIAGNOSE_EVERY_S)),
                on_progress=ctx.progress,
            )
        except WaitTimeout as exc:
            problems = _problems(ctx, name)
            certain = [p for p in problems if p.certain]
            if certain:
                raise RolloutFailed(
                    f"rollout of deployment {name} cannot complete: {describe(certain)}",
                    hint="fix the image or the pod spec and release again",
                ) from exc
            if deadline - time.monotonic() > 0:
                if problems:
                    ctx.progress(f"deployment {name}: {describe(problems)}")
                continue
            reasons = f"; {describe(problems)}" if problems else ""
            raise RolloutFailed(
                f"rollout of deployment {name} did not complete in {timeout:.0f}s: {exc.message}{reasons}"
            ) from exc
        reason = failed(objects)
        if reason:
            problems = _problems(ctx, name)
            raise RolloutFailed(f"rollout failed: {reason}" + (f"; {describe(problems)}" if problems else ""))
        return


def _replica_failure(deployment: dict[str, Any]) -> str | None:
    """The ReplicaSet cannot create pods at all (quota, Pod Security admission): no waiting will help."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            name = (deployment.get("metadata") or {}).get("name", "?")
            return f"deployment {name}: {condition.get('reason')}: {condition.get('message')}"
    return None


def _paused(deployment: dict[str, Any]) -> str | None:
    """A paused Deployment (`kubectl rollout pause`) does not roll out a new template until someone resumes it.
    Judged once the controller has seen the current spec: an undo that puts the running template back on a paused
    Deployment is done as soon as it has."""
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    seen = (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
    if (deployment.get("spec") or {}).get("paused") and seen and not rollout_status(deployment).done:
        name = (deployment.get("metadata") or {}).get("name", "?")
        return (
            f"deployment {name} is paused (spec.paused: true) and does not roll out until resumed "
            f"(kubectl rollout resume deployment/{name})"
        )
    return None


def _largest_node(ctx: ReleaseContext) -> dict[str, float] | None:
    """What the largest node offers, or None when the nodes cannot be read (a Role grants no cluster-wide reads)."""
    try:
        return largest_node(ctx.cluster.list("v1", "Node")) or None
    except ClusterError as exc:
        if exc.status in (401, 403):
            return None
        raise


def _problems(ctx: ReleaseContext, name: str) -> list[PodProblem]:
    """The problems of the pods of the Deployment's current revision, with their Warning events."""
    deployment = ctx.cluster.get("apps/v1", "Deployment", name)
    if deployment is None:
        return []
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    replica_sets = ctx.cluster.list("apps/v1", "ReplicaSet", label_selector=selector)
    pods = current_pods(deployment, replica_sets, ctx.cluster.list("v1", "Pod", label_selector=selector))
    names = {p["metadata"]["name"] for p in pods}
    events = [e for e in ctx.cluster.list("v1", "Event") if (e.get("involvedObject") or {}).get("name") in names]
    pending = any((p.get("status") or {}).get("phase") == "Pending" for p in pods)
    return pod_problems(pods, events, _largest_node(ctx) if pending else None)
