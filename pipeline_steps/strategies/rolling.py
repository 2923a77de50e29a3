"""Rolling update: one Deployment rolled by the deployment controller within maxSurge/maxUnavailable;
a rollout that does not complete in its deadline is undone to the previous revision."""

from __future__ import annotations

from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RolloutFailed
from pipeline_steps.kube.readiness import rollout_status
from pipeline_steps.render import Manifest
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.rollout_wait import wait_rollouts
from pipeline_steps.strategies.undo import undo_changes, undo_deployment
from pipeline_steps.strategies.workloads import (
    deployments,
    render,
    service_url,
)


class Rolling:
    name = "rolling"

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx

    def manifests(self, *, names_only: bool = False) -> list[Manifest]:
        return render(self.ctx, None, names_only=names_only)

    def deployment_names(self) -> list[str]:
        return [m.name for m in deployments(self.manifests(names_only=True))]

    def inspect(self) -> Plan:
        exists = self.ctx.cluster.namespace_exists()
        found = {
            n: self.ctx.cluster.get("apps/v1", "Deployment", n) if exists else None for n in self.deployment_names()
        }
        live = {
            name: {
                "revision": ((d or {}).get("metadata", {}).get("annotations") or {}).get(
                    "deployment.kubernetes.io/revision"
                ),
                "images": [c.get("image") for c in d["spec"]["template"]["spec"].get("containers") or []] if d else [],
                "rollout": rollout_status(d).message if d else "not deployed",
            }
            for name, d in found.items()
        }
        first = not any(found.values())
        summary = "first release" if first else "; ".join(f"{n}: revision {v['revision']}" for n, v in live.items())
        return Plan(summary, noop=True, facts={"live_deployments": live, "first_release": first})

    def rendered_by_role(self) -> dict[str, list[Manifest]]:
        return {"": self.manifests()}

    def deploy_manifests(self) -> list[Manifest]:
        return self.manifests()

    def replicas_to_restore(self, manifests: list[Manifest], live: dict[str, dict[str, Any] | None]) -> dict[str, int]:
        # A rolling release's Deployment at 0 replicas is the user's choice: pipeline-steps never scales it there.
        return {}

    def deploy_failed(self, names: list[str], error: Exception) -> str | None:
        """Undo exactly what this run's deploy changed, then wait for the Deployments to be whole again."""
        records = self.ctx.facts.changed_objects
        undone, left = undo_changes(self.ctx, records)
        changed = [r["name"] for r in records if r["kind"] == "Deployment" and r["existed"]]
        wait_rollouts(self.ctx, changed, self.ctx.config.timeouts.rollout_s)
        summary = f"{error}; undone: {', '.join(undone) or 'nothing'}"
        return summary + (f"; left as they are: {', '.join(left)}" if left else "")

    def staged_service(self) -> str | None:
        # A rolling update has no staged copy: the staged checks see the rolled-out release in public.
        return self.public_service()

    def public_service(self) -> str | None:
        return self.ctx.config.rolling.public_service

    def plan_switch(self) -> Plan:
        return Plan("rolling update: the public Service already sends traffic to the new pods", noop=True)

    def switch(self, plan: Plan) -> Plan:
        return plan

    def revert(self, reason: str) -> str:
        if not self.ctx.facts.changed_objects:
            raise RolloutFailed(f"{reason}; this run changed nothing, so there is nothing to undo")
        return str(self.deploy_failed(self.deployment_names(), RolloutFailed(reason)))

    def plan_post_clean(self) -> Plan:
        return Plan("rolling update: no old role to clean up", noop=True)

    def post_clean(self, plan: Plan) -> Plan:
        return plan

    def plan_rollback(self) -> Plan:
        names = self.deployment_names()
        return Plan("undo to the previous revision", [f"undo Deployment/{n}" for n in names], details={"names": names})

    def rollback(self, plan: Plan) -> Plan:
        names = list(plan.details["names"])
        done = [f"{n} to revision {undo_deployment(self.ctx, n)}" for n in names]
        wait_rollouts(self.ctx, names, self.ctx.config.timeouts.rollout_s)
        return Plan(f"undone: {', '.join(done)}", plan.changes)

    def status(self) -> dict[str, Any]:
        seen = self.inspect().facts
        service = self.ctx.cluster.get("v1", "Service", self.ctx.config.rolling.public_service)
        return {
            "strategy": self.name,
            "public_url": service_url(service),
            "deployments": seen.get("live_deployments", {}),
            "first_release": seen.get("first_release", False),
        }
