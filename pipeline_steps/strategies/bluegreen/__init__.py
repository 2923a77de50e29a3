"""Blue/green: two identical Deployments told apart by a role label; the public Service selects one role.

Deploy updates the idle role; switch re-points the public Service's selector once that role is fully
available, and reports done only when the Service's EndpointSlices list nothing but the new role's pods.
Each idea has its module: roles (rendering, reading the cluster, check-env), switching, endpoints, cleanup.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX
from pipeline_steps.kube.readiness import rollout_status
from pipeline_steps.render import Manifest
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.bluegreen import capacity, cleanup, switching
from pipeline_steps.strategies.bluegreen.roles import Roles, images_of
from pipeline_steps.strategies.workloads import service_url


class BlueGreen:
    name = "bluegreen"

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx
        self.roles = Roles(ctx)

    def test_service(self, role: str) -> str | None:
        return self.roles.test_service(role)

    def rendered_by_role(self) -> dict[str, list[Manifest]]:
        self.roles.names_by_role()  # the checks deploy makes: each role has Deployments, named apart
        self.roles.check_objects_apart()
        self.roles.check_traffic_policy(None)  # as the manifests have the public Service
        if self.roles.public_manifest(self.roles.settings.roles[0]) is None:
            self.ctx.warn(
                f"Service {self.roles.settings.public_service} (bluegreen.public_service) is not in the manifests: "
                "a real run needs it in the cluster already"
            )
        return {role: self.roles.manifests(role) for role in self.roles.settings.roles}

    def inspect(self) -> Plan:
        return self.roles.inspect()

    def deploy_manifests(self) -> list[Manifest]:
        self.roles.check_objects_apart()
        return self.roles.role_objects(self.roles.target())

    def replicas_to_restore(self, manifests: list[Manifest], live: dict[str, dict[str, Any] | None]) -> dict[str, int]:
        return capacity.plan_restore(self.roles, manifests, live)

    def deploy_failed(self, deployments: list[str], error: Exception) -> str | None:
        # The idle role is not public: the failure reached no user. Leave it for inspection.
        return None

    def staged_service(self) -> str | None:
        return self.roles.test_service(self.roles.target())

    def public_service(self) -> str | None:
        return self.roles.settings.public_service

    def plan_switch(self) -> Plan:
        return switching.plan_switch(self.roles)

    def switch(self, plan: Plan) -> Plan:
        return switching.switch(self.roles, plan)

    def revert(self, reason: str) -> str:
        return switching.revert(self.roles, reason)

    def plan_post_clean(self) -> Plan:
        return cleanup.plan_post_clean(self.roles)

    def post_clean(self, plan: Plan) -> Plan:
        return cleanup.post_clean(self.roles, plan)

    def plan_rollback(self) -> Plan:
        return switching.plan_rollback(self.roles)

    def rollback(self, plan: Plan) -> Plan:
        return switching.rollback(self.roles, plan)

    def status(self) -> dict[str, Any]:
        roles = self.roles
        active = roles.inspect().facts.get("active_role")
        service = roles.public_service()
        annotations = (service or {}).get("metadata", {}).get("annotations") or {}
        by_role = {}
        for role in roles.settings.roles:
            found = roles.role_deployments(role)
            by_role[role] = {
                "public": role == active,
                "deployments": {
                    name: {
                        "images": images_of(d),
                        "ready": f"{(d or {}).get('status', {}).get('readyReplicas') or 0}/"
                        f"{(d or {}).get('spec', {}).get('replicas', 0)}",
                        "rollout": rollout_status(d).message if d else "not deployed",
                    }
                    for name, d in found.items()
                },
            }
        return {
            "strategy": self.name,
            "public_service": roles.settings.public_service,
            "public_url": service_url(service),
            "active_role": active,
            "annotations": {
                k.removeprefix(ANNOTATION_PREFIX): v for k, v in annotations.items() if k.startswith(ANNOTATION_PREFIX)
            },
            "roles": by_role,
        }
