"""Blue/green switching: re-pointing the public Service's selector (switch, switch back after a failed
verify-prod, rollback), only to a fully available role, and recording the switch on the Service."""

from __future__ import annotations

import datetime
import time
from typing import Any, NoReturn

from pipeline_steps.errors import ConfigError, PipelineError, RolloutFailed, SwitchedBack
from pipeline_steps.facts import FactUpdates
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.bluegreen import capacity
from pipeline_steps.strategies.bluegreen.endpoints import wait_endpoints
from pipeline_steps.strategies.bluegreen.load_balancer import settle_seconds
from pipeline_steps.strategies.bluegreen.roles import Roles
from pipeline_steps.strategies.workloads import ensure_namespace


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_switch(roles: Roles) -> Plan:
    target = roles.target()
    _check_runs_this_release(roles, target)
    service = roles.public_service() if roles.ctx.cluster.namespace_exists() else None
    active = roles.active_role(service)
    label, name = roles.settings.role_label, roles.settings.public_service
    if active == target:
        # Already public: by this run's own switch (killed after it and run again), or before this run.
        facts: FactUpdates = {} if roles.ctx.facts.switched else {"switched": False}
        return Plan(f"role {target} is already public", noop=True, facts=facts)
    roles.check_traffic_policy(service)
    if service is None:
        changes = [f"create Service/{name} selecting {label}={target}"]
    else:
        changes = [f"patch Service/{name} selector {label}: {active} -> {target}"]
    profile = roles.load_balancer(service)
    settle = settle_seconds(profile, roles.ctx.config.load_balancer.settle_s)
    if settle > 0:
        changes.append(f"give the load balancer {settle:.0f}s to settle before verify-prod ({profile.why})")
    diff = f"-  {label}: {active}\n+  {label}: {target}\n" if active else ""
    raises = capacity.plan_capacity(roles, target, active) if active else []
    capacity_changes = [line for found in raises for line in found.changes()]
    if raises:
        capacity_changes.append(f"wait until role {target} has {', '.join(f'{r.needed} available' for r in raises)}")
    return Plan(
        f"switch public traffic to role {target}",
        [*capacity_changes, *changes],
        diff,
        details={"from_role": active, "settle_s": settle, "capacity": raises},
    )


def switch(roles: Roles, plan: Plan) -> Plan:
    target = roles.target()
    if not roles.role_available(target):
        raise RolloutFailed(
            f"role {target} is not fully available; refusing to switch (the public endpoint would lose ready backends)",
            hint="run deploy again and look at `pipeline-steps status`",
        )
    previous = plan.details.get("from_role")
    try:
        capacity.raise_capacity(roles, plan.details.get("capacity") or [])
    except BaseException:
        capacity.give_back(roles)  # the selector has not moved: nothing else to undo
        raise
    try:
        seconds = point_service_at(roles, target, previous)
    except BaseException as exc:
        # Whatever stopped the switch (endpoints that never followed, a timeout, a conflict, a lost watch, an
        # abort), the selector may have moved: put the public endpoint back on the role that served it.
        try:
            if previous:
                switch_back(roles, previous, target, exc)
        finally:
            capacity.give_back(roles)
        raise
    # The raised minimum stays until post-clean: the HPA's metrics of the new role still show an idle role for
    # a while, and with its own minimum back it would scale the role down under its first public traffic.
    summary = f"public traffic on role {target} (was {previous or 'none'}); endpoints followed in {seconds:.1f}s"
    settle = float(plan.details.get("settle_s") or 0)
    if settle > 0:
        # The cloud load balancer follows the endpoints by its own health checks; nothing in the cluster's API
        # tells when it has, so this is a grace period, as scale-down's delay is.
        roles.ctx.progress(f"giving the load balancer {settle:.0f}s to settle before verify-prod")
        time.sleep(settle)
        summary += f"; load balancer given {settle:.0f}s to settle"
    return Plan(
        summary,
        plan.changes,
        facts={
            "switched": True,
            "previous_role": previous,
            "active_role": target,
            # Once public, the old role is the idle one: the next release deploys there.
            "idle_role": previous,
            "switch_seconds": round(seconds, 2),
        },
    )


def switch_back(roles: Roles, previous: str, target: str, error: BaseException) -> NoReturn:
    """After a failed or interrupted switch: the selector back on `previous`, then SwitchedBack; or, if even
    that fails, an error that says what state the Service is in and the one command that fixes it."""
    name, label = roles.settings.public_service, roles.settings.role_label
    why = error.message if isinstance(error, PipelineError) else (str(error) or type(error).__name__)
    note = ""
    try:
        point_service_at(roles, previous, target)
    except RolloutFailed as back:
        # The selector is back on a role that served before; say what was not seen.
        note = f" (its endpoints were not confirmed either: {back.message})"
    except Exception as back:
        service = _read_quietly(roles)
        selects = ((service or {}).get("spec") or {}).get("selector", {}).get(label, "unknown")
        raise RolloutFailed(
            f"{why}; switching back to role {previous} failed too ({back}): Service {name} now selects "
            f"{label}={selects}",
            hint=f"put it back with `pipeline-steps rollback -c {roles.ctx.config.path} --namespace "
            f"{roles.ctx.cluster.namespace}` once the cluster answers",
        ) from error
    if isinstance(error, KeyboardInterrupt):
        roles.ctx.progress(f"interrupted during switch: public traffic back on role {previous}{note}")
        raise error
    raise SwitchedBack(f"{why}; switched public traffic back to role {previous}{note}") from error


def _read_quietly(roles: Roles) -> dict[str, Any] | None:
    try:
        return roles.public_service()
    except PipelineError:
        return None


def _check_runs_this_release(roles: Roles, role: str) -> None:
    """Refuse to make public a role that another run has deployed to since this run's deploy.

    Only against the image this run resolved (a tag given again to a later stage may stand for the
    digest the role runs, which cannot be told apart without the registry)."""
    image = roles.ctx.facts.image_ref
    if not image:
        return
    images = roles.role_images(role)
    if images and image not in images:
        raise RolloutFailed(
            f"role {role} runs {', '.join(sorted(images))}, not this run's {image}: another run deployed there "
            "after this one; refusing to switch",
            hint="start a new run (from pre-clean) for the release you want public",
        )


def point_service_at(roles: Roles, role: str, previous: str | None) -> float:
    """Make the public Service select `role`, recording the switch; seconds until its endpoints followed."""
    ctx, label, name = roles.ctx, roles.settings.role_label, roles.settings.public_service
    annotations = {
        ANNOTATION_PREFIX + "active-role": role,
        ANNOTATION_PREFIX + "previous-role": previous or "",
        ANNOTATION_PREFIX + "image": ",".join(sorted(roles.role_images(role))),
        ANNOTATION_PREFIX + "revision": _revision(roles, role),
        ANNOTATION_PREFIX + "switched-at": _now(),
        ANNOTATION_PREFIX + "run-id": ctx.run_id,
    }
    started = time.monotonic()
    if roles.public_service() is None:
        manifest = roles.public_manifest(role)
        if manifest is None:
            raise ConfigError(
                f"Service {name} is neither in the cluster nor in the manifests",
                field="bluegreen.public_service",
                hint="add the public Service to the manifests, or fix bluegreen.public_service",
            )
        ensure_namespace(ctx)
        body = dict(manifest.body)
        body["metadata"] = {
            **body["metadata"],
            "annotations": {**(body["metadata"].get("annotations") or {}), **annotations},
        }
        body["spec"] = {**body["spec"], "selector": {**(body["spec"].get("selector") or {}), label: role}}
        service = ctx.cluster.apply(body)
    else:
        service = ctx.cluster.merge_patch(
            "v1", "Service", name, {"metadata": {"annotations": annotations}, "spec": {"selector": {label: role}}}
        )
    ctx.progress(f"service {name} now selects {label}={role}; waiting for endpoints")
    wait_endpoints(ctx, service, role, label)
    return time.monotonic() - started


def _revision(roles: Roles, role: str) -> str:
    revisions = []
    for deployment in roles.role_deployments(role).values():
        annotations = (deployment or {}).get("metadata", {}).get("annotations") or {}
        revisions.append(annotations.get("deployment.kubernetes.io/revision", "?"))
    return ",".join(revisions)


def revert(roles: Roles, reason: str) -> str:
    """verify-prod failed: the previous role back in public, if it can serve."""
    previous = roles.ctx.facts.previous_role
    if not previous:
        raise RolloutFailed(f"{reason}; this was the first release, so there is no previous role to switch back to")
    if not roles.role_available(previous):
        raise RolloutFailed(f"{reason}; role {previous} is not available, so traffic stays on the new role")
    target = roles.target()
    try:
        seconds = point_service_at(roles, previous, target)
    finally:
        capacity.give_back(roles)
    roles.ctx.facts.merge({"active_role": previous, "idle_role": target, "switched": False, "reverted": True})
    return f"{reason}; switched public traffic back to role {previous} in {seconds:.1f}s"


def plan_rollback(roles: Roles) -> Plan:
    service = roles.public_service()
    active = roles.active_role(service)
    name = roles.settings.public_service
    if active is None:
        raise RolloutFailed(f"Service {name} does not exist or selects no role")
    annotations = (service or {}).get("metadata", {}).get("annotations") or {}
    previous = annotations.get(ANNOTATION_PREFIX + "previous-role") or roles.other(active)
    label = roles.settings.role_label
    return Plan(
        f"switch public traffic back from role {active} to role {previous}",
        [f"patch Service/{name} selector {label}: {active} -> {previous}"],
        details={"from_role": active, "to_role": previous},
    )


def rollback(roles: Roles, plan: Plan) -> Plan:
    to_role, from_role = str(plan.details["to_role"]), str(plan.details["from_role"])
    if not roles.role_available(to_role):
        raise RolloutFailed(
            f"role {to_role} is not fully available; refusing to switch back",
            hint="scale it up (post-clean policy scale-down leaves it at 0) or deploy it again",
        )
    seconds = point_service_at(roles, to_role, from_role)
    return Plan(
        f"public traffic back on role {to_role} in {seconds:.1f}s",
        plan.changes,
        facts={"active_role": to_role, "previous_role": from_role},
    )
