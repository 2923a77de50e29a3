"""Capacity of the role a switch makes public, and of a role scale-down left at 0.

An idle role's HPA holds it at `minReplicas` while it gets no traffic, while the active role may run 30 pods:
a switch to it as it is would put all public traffic on a few pods. Before switching, the target role is
brought to at least the active role's available replicas (its Deployment scaled through the scale
subresource; its HPA's minReplicas raised for the switch so that the HPA does not scale it back), and the
switch waits until they are available. The HPA gets its own settings back at post-clean (once the new role's
metrics show its public traffic: given back at once, the HPA would read an idle role and scale it down), or
at once on a switch back. They are recorded before they change (the run's facts, like deploy's undo
records), so a run stopped in between gives them back when it goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_steps.render import Manifest
from pipeline_steps.strategies.autoscaling import Autoscaler, replicas_to_restore
from pipeline_steps.strategies.bluegreen.roles import Roles
from pipeline_steps.strategies.rollout_wait import wait_rollouts
from pipeline_steps.strategies.undo import record_field, undo_changes
from pipeline_steps.strategies.workloads import autoscalers, deployments

MIN_REPLICAS_FIELD = "spec.minReplicas"


@dataclasses.dataclass(frozen=True)
class CapacityRaise:
    """What one Deployment of the target role needs before the switch."""

    deployment: str
    replicas: int  #: its spec.replicas now
    needed: int  #: the paired Deployment of the active role's available replicas (capped at the HPA's maximum)
    autoscaler: Autoscaler | None

    @property
    def scale_to(self) -> int | None:
        return self.needed if self.replicas < self.needed else None

    @property
    def min_replicas_to(self) -> int | None:
        if self.autoscaler is None or self.autoscaler.min_replicas >= self.needed:
            return None
        return self.needed

    def changes(self) -> list[str]:
        done = []
        if self.min_replicas_to is not None and self.autoscaler is not None:
            done.append(
                f"raise {self.autoscaler.label} minReplicas {self.autoscaler.min_replicas} -> {self.min_replicas_to} "
                "for the switch (given back at post-clean)"
            )
        if self.scale_to is not None:
            done.append(f"scale Deployment/{self.deployment} {self.replicas} -> {self.scale_to} before the switch")
        return done


def capacity_raises(
    target: Sequence[tuple[str, Mapping[str, Any] | None]],
    active: Sequence[Mapping[str, Any] | None],
    autoscaled: Mapping[str, Autoscaler],
) -> list[CapacityRaise]:
    """For each target Deployment (paired by position with the active role's: the roles render the same
    manifests), what it needs to carry the active role's traffic; only those that need something."""
    raises = []
    for (name, live), active_live in zip(target, active, strict=False):
        if live is None or active_live is None:
            continue
        available = int(((active_live.get("status") or {}).get("availableReplicas")) or 0)
        autoscaler = autoscaled.get(name)
        needed = min(available, autoscaler.max_replicas) if autoscaler and autoscaler.max_replicas else available
        found = CapacityRaise(name, int((live.get("spec") or {}).get("replicas", 1)), needed, autoscaler)
        if found.scale_to is not None or found.min_replicas_to is not None:
            raises.append(found)
    return raises


def plan_capacity(roles: Roles, target: str, active: str) -> list[CapacityRaise]:
    """Read both roles and their HPAs; what the target needs before it is made public."""
    if not roles.ctx.config.capacity.match_active:
        return []
    names = roles.names_by_role()
    get = roles.ctx.cluster.get
    target_live = [(name, get("apps/v1", "Deployment", name)) for name in names[target]]
    active_live = [get("apps/v1", "Deployment", name) for name in names[active]]
    # The cluster's HPAs only: deploy applied the role's own, and a switch run as a stage of its own (Jenkins,
    # GitHub) has no ${IMAGE} to render the manifests with.
    autoscaled = autoscalers(roles.ctx, [])
    return capacity_raises(target_live, active_live, with_originals(autoscaled, roles.ctx.facts.capacity_changes))


def with_originals(autoscaled: Mapping[str, Autoscaler], records: Sequence[Mapping[str, Any]]) -> dict[str, Autoscaler]:
    """The HPAs with the minReplicas this run recorded before raising them: a switch killed after the raise
    and run again plans from the HPA's own setting, not from its own raised one."""
    originals = {r["name"]: int(r["value"]) for r in records if r.get("field") == MIN_REPLICAS_FIELD}
    return {
        target: dataclasses.replace(hpa, min_replicas=originals[hpa.name]) if hpa.name in originals else hpa
        for target, hpa in autoscaled.items()
    }


def raise_capacity(roles: Roles, raises: Sequence[CapacityRaise]) -> None:
    """Raise each HPA's minimum (recorded first), scale, and wait until the target role's replicas are available."""
    ctx = roles.ctx
    if not raises:
        return
    for found in raises:
        if found.min_replicas_to is not None and found.autoscaler is not None:
            hpa = found.autoscaler
            _record(
                roles,
                record_field(
                    "autoscaling/v2", "HorizontalPodAutoscaler", hpa.name, MIN_REPLICAS_FIELD, hpa.min_replicas
                ),
            )
            ctx.cluster.merge_patch(
                "autoscaling/v2", "HorizontalPodAutoscaler", hpa.name, {"spec": {"minReplicas": found.min_replicas_to}}
            )
        if found.scale_to is not None:
            ctx.cluster.scale(found.deployment, found.scale_to)
        ctx.progress(f"deployment {found.deployment}: raised to {found.needed} replicas for the switch")
    wait_rollouts(ctx, [r.deployment for r in raises], ctx.config.timeouts.rollout_s, at_least_one=True)


def _record(roles: Roles, record: dict[str, Any]) -> None:
    """Keep the first record of a field: a switch run again must not take its own raised value for the original."""
    facts = roles.ctx.facts
    same = [
        r
        for r in facts.capacity_changes
        if (r["kind"], r["name"], r["field"]) == (record["kind"], record["name"], record["field"])
    ]
    if not same:
        facts.capacity_changes = [*facts.capacity_changes, record]


def give_back(roles: Roles) -> list[str]:
    """Put back every setting the switch raised; what was given back."""
    records = roles.ctx.facts.capacity_changes
    if not records:
        return []
    undone, _ = undo_changes(roles.ctx, records)
    roles.ctx.facts.capacity_changes = []
    for line in undone:
        roles.ctx.progress(f"gave back {line}")
    return undone


def plan_restore(
    roles: Roles, manifests: Sequence[Manifest], live: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, int]:
    """Deploy to a role that scale-down left at 0: the replicas each of its Deployments needs, by name."""
    ctx = roles.ctx
    target = roles.target()
    active = ctx.facts.active_role
    autoscaled = autoscalers(ctx, manifests)
    names = roles.names_by_role()
    active_names = names.get(active or "", []) if active and active != target else []
    restore = {}
    for index, manifest in enumerate(deployments(manifests)):
        found = live.get(manifest.name)
        live_replicas = ((found or {}).get("spec") or {}).get("replicas") if found else None
        active_replicas = None
        if index < len(active_names):
            active_live = ctx.cluster.get("apps/v1", "Deployment", active_names[index])
            active_replicas = ((active_live or {}).get("spec") or {}).get("replicas")
        needed = replicas_to_restore(
            live_replicas,
            (manifest.body.get("spec") or {}).get("replicas"),
            autoscaled.get(manifest.name),
            active_replicas,
        )
        if needed is not None:
            restore[manifest.name] = needed
    return restore
