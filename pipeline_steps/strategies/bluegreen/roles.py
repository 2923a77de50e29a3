"""Blue/green roles: rendering each role's manifests, and reading from the cluster which role is public,
what each role runs and whether it is fully available (check-env)."""

from __future__ import annotations

import difflib
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ApplyConflict, ConfigError, RenderError
from pipeline_steps.facts import FactUpdates
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX
from pipeline_steps.kube.readiness import fully_available
from pipeline_steps.render import Manifest
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.bluegreen.load_balancer import (
    LoadBalancerProfile,
    load_balancer_profile,
    local_policy_problem,
)
from pipeline_steps.strategies.workloads import deployments, plan_apply, render


def images_of(deployment: dict[str, Any] | None) -> list[str]:
    if not deployment:
        return []
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return [c.get("image", "") for c in containers]


class Roles:
    """The two roles of one app: their manifests and what the cluster says of them."""

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx
        self.settings = ctx.config.bluegreen
        self._rendered: dict[tuple[str, str, bool], list[Manifest]] = {}

    # -- rendering ----------------------------------------------------------------------------------

    def manifests(self, role: str, *, names_only: bool = False) -> list[Manifest]:
        """The role's rendered manifests. `names_only`: for reading the cluster (see workloads.render)."""
        key = (role, str(self.ctx.facts.image_ref), names_only)
        if key not in self._rendered:
            self._rendered[key] = render(self.ctx, role, names_only=names_only)
        return self._rendered[key]

    def names_by_role(self) -> dict[str, list[str]]:
        """Each role's Deployment names; an error unless every role has its own."""
        names = {
            role: [m.name for m in deployments(self.manifests(role, names_only=True))] for role in self.settings.roles
        }
        first, second = self.settings.roles
        shared = set(names[first]) & set(names[second])
        if shared:
            raise ConfigError(
                f"Deployment {sorted(shared)[0]} has the same name for both roles",
                field="metadata.name",
                hint="put ${TARGET_ROLE} in the Deployment's name, e.g. `name: myapp-${TARGET_ROLE}`",
            )
        if not names[first]:
            raise ConfigError("the manifests hold no Deployment", hint="add the app's Deployment to `manifests`")
        return names

    def check_objects_apart(self) -> None:
        """Every object but the public Service is the role's own (its name holds the role), unless listed under
        `bluegreen.shared`: deploying the idle role re-applies an object both roles share, changing it under the
        public role's running pods before verify and confirm (the kubelet updates mounted ConfigMaps and
        Secrets), and re-pointing a single HPA or PodDisruptionBudget at the idle role."""
        self.names_by_role()  # Deployments first, with their own message
        first, second = self.settings.roles
        other = {(m.kind, m.name) for m in self.manifests(second, names_only=True)}
        shared = set(self.settings.shared)
        for manifest in self.manifests(first, names_only=True):
            key = f"{manifest.kind}/{manifest.name}"
            if (manifest.kind, manifest.name) not in other or key in shared:
                continue
            if manifest.kind == "Service" and manifest.name == self.settings.public_service:
                continue  # only switch changes it
            effect = "changes it for the public role's running pods before verify and confirm"
            if manifest.kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
                effect = "points it at the idle role, away from the public one"
            raise ConfigError(
                f"{key} has the same name for both roles: deploying the idle role would re-apply it, which {effect}",
                source=manifest.where,
                field="metadata.name",
                hint="put ${TARGET_ROLE} in its name (and in what refers to it), e.g. "
                f"`name: {manifest.name}-${{TARGET_ROLE}}`; or, if both roles may share it as it is, list it: "
                f"`bluegreen: {{shared: [{key}]}}`",
            )

    def public_manifest(self, role: str) -> Manifest | None:
        for manifest in self.manifests(role):
            if manifest.kind == "Service" and manifest.name == self.settings.public_service:
                return manifest
        return None

    def check_public_service_known(self) -> None:
        """The public Service must be in the manifests when the cluster does not have it yet: a name that is in
        neither (a typo) would deploy the real public Service as if it were a test Service, and never switch it."""
        role = self.settings.roles[0]
        name = self.settings.public_service
        # Names only: `status` of a namespace with nothing released yet needs no image.
        services = sorted({m.name for m in self.manifests(role, names_only=True) if m.kind == "Service"})
        if name in services:
            return
        close = difflib.get_close_matches(name, services, n=1)
        raise ConfigError(
            f"Service {name} is neither in the cluster nor in the manifests"
            + (f"; did you mean {close[0]}?" if close else f" (their Services: {', '.join(services) or 'none'})"),
            field="bluegreen.public_service",
            hint="name the public Service of the manifests, or add it to them: switch creates it from there "
            "on a first release",
        )

    def role_objects(self, role: str) -> list[Manifest]:
        """What deploying a role applies: its manifests but the public Service, which only switch changes."""
        return [m for m in self.manifests(role) if not (m.kind == "Service" and m.name == self.settings.public_service)]

    def test_service(self, role: str) -> str | None:
        """The role's own Service: a Service of the role's manifests, other than the public one, that
        selects on the role label."""
        label = self.settings.role_label
        for manifest in self.manifests(role, names_only=True):
            selector = (manifest.body.get("spec") or {}).get("selector") or {}
            if manifest.kind == "Service" and manifest.name != self.settings.public_service and label in selector:
                return manifest.name
        return None

    # -- reading the cluster --------------------------------------------------------------------------

    def public_service(self) -> dict[str, Any] | None:
        return self.ctx.cluster.get("v1", "Service", self.settings.public_service)

    def public_service_spec(self, service: dict[str, Any] | None) -> dict[str, Any] | None:
        """The public Service as it is live, else as the manifests have it (a first release)."""
        if service is not None:
            return service
        for manifest in self.manifests(self.settings.roles[0], names_only=True):
            if manifest.kind == "Service" and manifest.name == self.settings.public_service:
                return manifest.body
        return None

    def load_balancer(self, service: dict[str, Any] | None) -> LoadBalancerProfile:
        return load_balancer_profile(self.public_service_spec(service))

    def check_traffic_policy(self, service: dict[str, Any] | None) -> None:
        """externalTrafficPolicy Local loses requests at every switch: a warning, or an error by the setting."""
        problem = local_policy_problem(self.public_service_spec(service), self.settings.public_service)
        if problem is None:
            return
        fix = (
            "set `externalTrafficPolicy: Cluster` on the Service (to keep client addresses, let the load balancer "
            "pass them on: proxy protocol, X-Forwarded-For), or use a load balancer with IP targets (AWS Load "
            "Balancer Controller IP mode, GKE NEGs)"
        )
        if self.ctx.config.load_balancer.local_traffic_policy == "refuse":
            raise ConfigError(problem, field="load_balancer.local_traffic_policy", hint=fix)
        self.ctx.warn(f"{problem}; {fix} (load_balancer.local_traffic_policy: refuse stops such releases)")

    def active_role(self, service: dict[str, Any] | None) -> str | None:
        if not service:
            return None
        role = ((service.get("spec") or {}).get("selector") or {}).get(self.settings.role_label)
        return role if role in self.settings.roles else None

    def other(self, role: str) -> str:
        first, second = self.settings.roles
        return second if role == first else first

    def role_deployments(self, role: str) -> dict[str, dict[str, Any] | None]:
        return {name: self.ctx.cluster.get("apps/v1", "Deployment", name) for name in self.names_by_role()[role]}

    def role_available(self, role: str) -> bool:
        found = self.role_deployments(role)
        return bool(found) and all(d is not None and fully_available(d) for d in found.values())

    def role_images(self, role: str) -> set[str]:
        return {i for d in self.role_deployments(role).values() for i in images_of(d)}

    def target(self) -> str:
        """The role this run deploys to: from check-env's facts, or read now (a stage run alone)."""
        if not self.ctx.facts.target_role:
            self.ctx.facts.merge(self.inspect().facts)
        assert self.ctx.facts.target_role is not None
        return self.ctx.facts.target_role

    # -- check-env ------------------------------------------------------------------------------------

    def inspect(self) -> Plan:
        ctx = self.ctx
        namespace_exists = ctx.cluster.namespace_exists()
        service = self.public_service() if namespace_exists else None
        active = self.active_role(service)
        roles: dict[str, dict[str, Any]] = {}
        for role in self.settings.roles:
            found = self.role_deployments(role) if namespace_exists else {}
            roles[role] = {
                "deployments": sorted(found),
                "exists": any(d is not None for d in found.values()),
                "available": bool(found) and all(d is not None and fully_available(d) for d in found.values()),
                "images": sorted({i for d in found.values() for i in images_of(d)}),
            }
        notes = []
        self.check_traffic_policy(service)
        if service is None:
            self.check_public_service_known()
            target = self.settings.roles[0]
            notes.append(f"first release: no Service {self.settings.public_service} yet")
        elif active is None:
            raise ConfigError(
                f"Service {self.settings.public_service} selects no role: its selector lacks "
                f"{self.settings.role_label}: {'|'.join(self.settings.roles)}",
                field="bluegreen.role_label",
                hint="check bluegreen.role_label and the Service's selector",
            )
        else:
            target = self.other(active)
        live_release = False
        if active and roles[active]["available"]:
            # The same release already public: a second identical run changes nothing. Before the image
            # is known (check-env run alone) that cannot be told, and the run goes on.
            try:
                changes = plan_apply(ctx, self.role_objects(active), namespace_exists=True)
                live_release = all(c.action == "unchanged" for c in changes)
            except (RenderError, ApplyConflict):
                # A field of the active role another manager changed since (a conflict) is not this release.
                live_release = False
        if live_release:
            assert active is not None
            target = active
            notes.append(f"this release is already public on role {active}: nothing to deploy or switch")
        idle = roles.get(target, {})
        if not live_release and idle.get("exists") and not idle.get("available"):
            notes.append(f"role {target} is not fully available (an earlier run may have stopped): deploy updates it")
        annotations = (service or {}).get("metadata", {}).get("annotations") or {}
        last_run = annotations.get(ANNOTATION_PREFIX + "run-id")
        facts: FactUpdates = {
            "active_role": active,
            "target_role": target,
            "idle_role": None if live_release else target,
            "already_live": live_release,
            "roles": roles,
            "last_run_id": last_run,
        }
        if live_release and last_run == ctx.run_id:
            # This very run switched already (it was killed after the switch and runs again): it goes on
            # from there, so post-clean still deals with the role it switched away from.
            previous = annotations.get(ANNOTATION_PREFIX + "previous-role") or None
            facts.update({"switched": True, "previous_role": previous, "idle_role": previous})
            notes.append(f"this run switched to it already (from role {previous or 'none'})")
        summary = f"active role: {active or 'none'}; target role: {target}"
        if notes:
            summary += "; " + "; ".join(notes)
        return Plan(summary=summary, noop=True, facts=facts)
