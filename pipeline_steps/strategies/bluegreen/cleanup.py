"""Blue/green post-clean: what becomes of the old role once the new one is public: kept as it is for an
instant rollback, updated to this release as a hot backup, or scaled down after a delay."""

from __future__ import annotations

import time

from pipeline_steps.errors import RolloutFailed
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.bluegreen import capacity
from pipeline_steps.strategies.bluegreen.load_balancer import scale_down_seconds
from pipeline_steps.strategies.bluegreen.roles import Roles
from pipeline_steps.strategies.rollout_wait import wait_rollouts
from pipeline_steps.strategies.workloads import apply_objects, deployments, plan_apply


def plan_post_clean(roles: Roles) -> Plan:
    plan = _plan_policy(roles)
    given_back = [
        f"give back {r['kind']}/{r['name']} {r['field']} {r['value']}" for r in roles.ctx.facts.capacity_changes
    ]
    if given_back:
        plan.changes = [*given_back, *plan.changes]
        plan.noop = False
        plan.details["give_back"] = True
    return plan


def _plan_policy(roles: Roles) -> Plan:
    ctx = roles.ctx
    policy = ctx.config.post_clean.policy
    old = ctx.facts.previous_role
    if not ctx.facts.switched or not old:
        return Plan(f"policy {policy}: no old role to clean up in this run", noop=True)
    if policy == "keep":
        return Plan(f"policy keep: role {old} stays as it is, for instant rollback", noop=True)
    if policy == "hot-backup":
        changes = plan_apply(ctx, roles.role_objects(old), namespace_exists=True)
        todo = [f"{c.action} {c.label}" for c in changes if c.action != "unchanged"]
        return Plan(
            f"policy hot-backup: update role {old} to this release",
            todo,
            "".join(c.diff for c in changes),
            noop=not todo,
            objects=[c.manifest for c in changes if c.action != "unchanged"],
            details={"old_role": old},
        )
    names = roles.names_by_role()[old]
    configured = ctx.config.post_clean.scale_down_delay_s
    profile = roles.load_balancer(roles.public_service())
    deregistration = ctx.config.load_balancer.deregistration_delay_s
    delay = scale_down_seconds(profile, configured, deregistration)
    source = "load_balancer.deregistration_delay" if deregistration is not None else profile.why
    why = f" (the load balancer's deregistration delay: {source})" if delay > configured else ""
    return Plan(
        f"policy scale-down: scale role {old} to 0 after {delay:.0f}s{why}",
        [f"scale Deployment/{n} to 0" for n in names],
        details={"old_role": old, "delay_s": delay},
    )


def post_clean(roles: Roles, plan: Plan) -> Plan:
    """Give the new role's HPA its own settings back (raised for the switch), then apply the policy."""
    given = capacity.give_back(roles)
    if "old_role" not in plan.details:
        return Plan(f"{plan.summary}; gave back {', '.join(given)}", plan.changes)
    return _apply_policy(roles, plan)


def _apply_policy(roles: Roles, plan: Plan) -> Plan:
    ctx = roles.ctx
    old = str(plan.details["old_role"])
    if ctx.config.post_clean.policy == "hot-backup":
        apply_objects(ctx, plan.objects)
        wait_rollouts(ctx, [m.name for m in deployments(roles.role_objects(old))], ctx.config.timeouts.rollout_s)
        return Plan(f"role {old} updated to this release as a hot backup", plan.changes)
    # The delay lets in-flight work on the old role finish; it is a grace period, not a wait for state.
    time.sleep(float(plan.details.get("delay_s", ctx.config.post_clean.scale_down_delay_s)))
    if roles.active_role(roles.public_service()) == old:
        raise RolloutFailed(f"role {old} is public again; refusing to scale it down")
    for name in roles.names_by_role()[old]:
        ctx.cluster.merge_patch("apps/v1", "Deployment", name, {"spec": {"replicas": 0}})
    return Plan(f"role {old} scaled down to 0", plan.changes)
