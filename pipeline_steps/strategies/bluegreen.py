"""Blue/green: two identical Deployments told apart by a role label; the public Service selects one role.

Deploy updates the idle role; switch re-points the public Service's selector once that role is fully
available, and reports done only when the Service's EndpointSlices list nothing but the new role's pods.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ConfigError, RenderError, RolloutFailed, SwitchedBack
from pipeline_steps.kube.cluster import ANNOTATION_PREFIX, WaitTimeout
from pipeline_steps.kube.readiness import endpoints_view, fully_available, rollout_status, serves_only
from pipeline_steps.render import Manifest
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.workloads import (
    deployments,
    ensure_namespace,
    plan_apply,
    render,
    service_url,
    wait_rollouts,
    wait_service_url,
)

UNRESOLVED_IMAGE = "unresolved-image"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _images(deployment: dict[str, Any] | None) -> list[str]:
    if not deployment:
        return []
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return [c.get("image", "") for c in containers]


class BlueGreen:
    name = "bluegreen"

    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx
        self.settings = ctx.config.bluegreen
        self._rendered: dict[tuple[str, str, bool], list[Manifest]] = {}

    # -- rendering ----------------------------------------------------------------------------------

    def manifests(self, role: str, *, names_only: bool = False) -> list[Manifest]:
        """The role's rendered manifests. `names_only`: for reading the cluster before prepare-image has
        resolved the image, render with a placeholder image (never applied)."""
        image_var = self.ctx.config.image.variable
        placeholder = names_only and image_var not in self.ctx.variables()
        key = (role, str(self.ctx.facts.get("image_ref")), placeholder)
        if key not in self._rendered:
            self._rendered[key] = render(self.ctx, role, **({image_var: UNRESOLVED_IMAGE} if placeholder else {}))
        return self._rendered[key]

    def _names_by_role(self) -> dict[str, list[str]]:
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

    def public_manifest(self, role: str) -> Manifest | None:
        for manifest in self.manifests(role):
            if manifest.kind == "Service" and manifest.name == self.settings.public_service:
                return manifest
        return None

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

    def active_role(self, service: dict[str, Any] | None) -> str | None:
        if not service:
            return None
        role = ((service.get("spec") or {}).get("selector") or {}).get(self.settings.role_label)
        return role if role in self.settings.roles else None

    def other(self, role: str) -> str:
        first, second = self.settings.roles
        return second if role == first else first

    def role_deployments(self, role: str) -> dict[str, dict[str, Any] | None]:
        return {name: self.ctx.cluster.get("apps/v1", "Deployment", name) for name in self._names_by_role()[role]}

    def role_available(self, role: str) -> bool:
        found = self.role_deployments(role)
        return bool(found) and all(d is not None and fully_available(d) for d in found.values())

    def role_pods(self, role: str) -> set[str]:
        pods: set[str] = set()
        for deployment in self.role_deployments(role).values():
            if deployment is None:
                continue
            labels = deployment["spec"]["selector"].get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in labels.items())
            pods |= {p["metadata"]["name"] for p in self.ctx.cluster.list("v1", "Pod", label_selector=selector)}
        return pods

    # -- check-env ------------------------------------------------------------------------------------

    def inspect(self) -> Plan:
        ctx = self.ctx
        namespace_exists = ctx.cluster.namespace_exists()
        service = self.public_service() if namespace_exists else None
        active = self.active_role(service)
        roles: dict[str, Any] = {}
        for role in self.settings.roles:
            found = self.role_deployments(role) if namespace_exists else {}
            roles[role] = {
                "deployments": sorted(found),
                "exists": any(d is not None for d in found.values()),
                "available": bool(found) and all(d is not None and fully_available(d) for d in found.values()),
                "images": sorted({i for d in found.values() for i in _images(d)}),
            }
        notes = []
        if service is None:
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
                changes = plan_apply(ctx, self._role_objects(active), namespace_exists=True)
                live_release = all(c.action == "unchanged" for c in changes)
            except RenderError:
                live_release = False
        if live_release:
            assert active is not None
            target = active
            notes.append(f"this release is already public on role {active}: nothing to deploy or switch")
        idle = roles.get(target, {})
        if not live_release and idle.get("exists") and not idle.get("available"):
            notes.append(f"role {target} is not fully available (an earlier run may have stopped): deploy updates it")
        annotations = (service or {}).get("metadata", {}).get("annotations") or {}
        data = {
            "active_role": active,
            "target_role": target,
            "idle_role": None if live_release else target,
            "already_live": live_release,
            "roles": roles,
            "public_service": self.settings.public_service,
            "last_run_id": annotations.get(ANNOTATION_PREFIX + "run-id"),
            "namespace_exists": namespace_exists,
        }
        summary = f"active role: {active or 'none'}; target role: {target}"
        if notes:
            summary += "; " + "; ".join(notes)
        return Plan(summary=summary, noop=True, data=data)

    # -- deploy ---------------------------------------------------------------------------------------

    def _role_objects(self, role: str) -> list[Manifest]:
        return [m for m in self.manifests(role) if not (m.kind == "Service" and m.name == self.settings.public_service)]

    def target(self) -> str:
        target = self.ctx.facts.get("target_role")
        if not target:
            self.ctx.facts.update(self.inspect().data)
            target = self.ctx.facts["target_role"]
        return str(target)

    def deploy_manifests(self) -> list[Manifest]:
        return self._role_objects(self.target())

    def deploy_failed(self, deployments: list[str], error: Exception) -> str | None:
        # The idle role is not public: the failure reached no user. Leave it for inspection.
        return None

    # -- verify ---------------------------------------------------------------------------------------

    def staged_url(self, timeout: float) -> str | None:
        name = self.test_service(self.target())
        return wait_service_url(self.ctx, name, timeout) if name else None

    def public_url(self, timeout: float) -> str | None:
        return wait_service_url(self.ctx, self.settings.public_service, timeout)

    # -- switch ---------------------------------------------------------------------------------------

    def plan_switch(self) -> Plan:
        target = self.target()
        self._check_runs_this_release(target)
        service = self.public_service() if self.ctx.cluster.namespace_exists() else None
        active = self.active_role(service)
        label = self.settings.role_label
        if active == target:
            return Plan(f"role {target} is already public", noop=True, data={"switched": False})
        if service is None:
            change = f"create Service/{self.settings.public_service} selecting {label}={target}"
        else:
            change = f"patch Service/{self.settings.public_service} selector {label}: {active} -> {target}"
        diff = f"-  {label}: {active}\n+  {label}: {target}\n" if active else ""
        return Plan(f"switch public traffic to role {target}", [change], diff, data={"from_role": active})

    def switch(self, plan: Plan) -> Plan:
        target = self.target()
        if not self.role_available(target):
            raise RolloutFailed(
                f"role {target} is not fully available; refusing to switch (the public endpoint would lose "
                "ready backends)",
                hint="run deploy again and look at `pipeline-steps status`",
            )
        previous = plan.data.get("from_role")
        try:
            seconds = self._point_service_at(target, previous)
        except RolloutFailed as exc:
            # The selector may have moved while the endpoints never followed: put the public endpoint
            # back on the role that served it, which is known to have ready backends.
            if previous and self.role_available(previous):
                note = ""
                try:
                    self._point_service_at(previous, target)
                except RolloutFailed as back:
                    # The selector is back on a fully available role either way; say what was not seen.
                    note = f" (its endpoints were not confirmed either: {back.message})"
                raise SwitchedBack(f"{exc.message}; switched public traffic back to role {previous}{note}") from exc
            raise
        data = {
            "switched": True,
            "previous_role": previous,
            "active_role": target,
            # Once public, the old role is the idle one: the next release deploys there.
            "idle_role": previous,
            "switch_seconds": round(seconds, 2),
        }
        return Plan(
            f"public traffic on role {target} (was {previous or 'none'}); endpoints followed in {seconds:.1f}s",
            plan.changes,
            data=data,
        )

    def _check_runs_this_release(self, role: str) -> None:
        """Refuse to make public a role that another run has deployed to since this run's deploy.

        Only against the image this run resolved (a tag given again to a later stage may stand for the
        digest the role runs, which cannot be told apart without the registry)."""
        image = self.ctx.facts.get("image_ref")
        if not image:
            return
        images = {i for d in self.role_deployments(role).values() for i in _images(d)}
        if images and image not in images:
            raise RolloutFailed(
                f"role {role} runs {', '.join(sorted(images))}, not this run's {image}: another run deployed there "
                "after this one; refusing to switch",
                hint="start a new run (from pre-clean) for the release you want public",
            )

    def _point_service_at(self, role: str, previous: str | None) -> float:
        ctx, label = self.ctx, self.settings.role_label
        annotations = {
            ANNOTATION_PREFIX + "active-role": role,
            ANNOTATION_PREFIX + "previous-role": previous or "",
            ANNOTATION_PREFIX + "image": ",".join(
                sorted({i for d in self.role_deployments(role).values() for i in _images(d)})
            ),
            ANNOTATION_PREFIX + "revision": self._revision(role),
            ANNOTATION_PREFIX + "switched-at": _now(),
            ANNOTATION_PREFIX + "run-id": ctx.run_id,
        }
        started = time.monotonic()
        if self.public_service() is None:
            manifest = self.public_manifest(role)
            if manifest is None:
                raise ConfigError(
                    f"Service {self.settings.public_service} is neither in the cluster nor in the manifests",
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
            ctx.cluster.apply(body)
        else:
            ctx.cluster.merge_patch(
                "v1",
                "Service",
                self.settings.public_service,
                {"metadata": {"annotations": annotations}, "spec": {"selector": {label: role}}},
            )
        ctx.progress(f"service {self.settings.public_service} now selects {label}={role}; waiting for endpoints")
        self._wait_endpoints(role)
        return time.monotonic() - started

    def _revision(self, role: str) -> str:
        revisions = []
        for deployment in self.role_deployments(role).values():
            annotations = (deployment or {}).get("metadata", {}).get("annotations") or {}
            revisions.append(annotations.get("deployment.kubernetes.io/revision", "?"))
        return ",".join(revisions)

    def _wait_endpoints(self, role: str) -> None:
        pods = self.role_pods(role)
        service = self.settings.public_service

        def describe(objects: dict[str, dict[str, Any]]) -> str:
            view = endpoints_view(objects.values())
            others = (view.ready | view.not_ready) - pods
            return f"service {service}: {len(view.ready & pods)} ready endpoints of role {role}, {len(others)} others"

        try:
            self.ctx.cluster.wait(
                "discovery.k8s.io/v1",
                "EndpointSlice",
                label_selector=f"kubernetes.io/service-name={service}",
                done=lambda objects: serves_only(endpoints_view(objects.values()), pods),
                describe=describe,
                timeout=self.ctx.config.timeouts.switch_s,
                on_progress=self.ctx.progress,
            )
        except WaitTimeout as exc:
            raise RolloutFailed(f"switch to role {role}: endpoints did not follow: {exc.message}") from exc

    def revert(self, reason: str) -> str:
        previous = self.ctx.facts.get("previous_role")
        if not previous:
            raise RolloutFailed(f"{reason}; this was the first release, so there is no previous role to switch back to")
        if not self.role_available(previous):
            raise RolloutFailed(f"{reason}; role {previous} is not available, so traffic stays on the new role")
        seconds = self._point_service_at(previous, self.target())
        self.ctx.facts.update(
            {"active_role": previous, "idle_role": self.target(), "switched": False, "reverted": True}
        )
        return f"{reason}; switched public traffic back to role {previous} in {seconds:.1f}s"

    # -- post-clean -----------------------------------------------------------------------------------

    def plan_post_clean(self) -> Plan:
        policy = self.ctx.config.post_clean.policy
        old = self.ctx.facts.get("previous_role")
        if not self.ctx.facts.get("switched") or not old:
            return Plan(f"policy {policy}: no old role to clean up in this run", noop=True)
        if policy == "keep":
            return Plan(f"policy keep: role {old} stays as it is, for instant rollback", noop=True)
        if policy == "hot-backup":
            changes = plan_apply(self.ctx, self._role_objects(old), namespace_exists=True)
            todo = [f"{c.action} {c.label}" for c in changes if c.action != "unchanged"]
            return Plan(
                f"policy hot-backup: update role {old} to this release",
                todo,
                "".join(c.diff for c in changes),
                noop=not todo,
                data={"old_role": old},
            )
        names = self._names_by_role()[old]
        delay = self.ctx.config.post_clean.scale_down_delay_s
        return Plan(
            f"policy scale-down: scale role {old} to 0 after {delay:.0f}s",
            [f"scale Deployment/{n} to 0" for n in names],
            data={"old_role": old},
        )

    def post_clean(self, plan: Plan) -> Plan:
        old = str(plan.data["old_role"])
        if self.ctx.config.post_clean.policy == "hot-backup":
            for manifest in self._role_objects(old):
                self.ctx.cluster.apply(manifest.body)
            wait_rollouts(
                self.ctx, [m.name for m in deployments(self._role_objects(old))], self.ctx.config.timeouts.rollout_s
            )
            return Plan(f"role {old} updated to this release as a hot backup", plan.changes)
        # The delay lets in-flight work on the old role finish; it is a grace period, not a wait for state.
        time.sleep(self.ctx.config.post_clean.scale_down_delay_s)
        if self.active_role(self.public_service()) == old:
            raise RolloutFailed(f"role {old} is public again; refusing to scale it down")
        for name in self._names_by_role()[old]:
            self.ctx.cluster.merge_patch("apps/v1", "Deployment", name, {"spec": {"replicas": 0}})
        return Plan(f"role {old} scaled down to 0", plan.changes)

    # -- rollback and status --------------------------------------------------------------------------

    def plan_rollback(self) -> Plan:
        service = self.public_service()
        active = self.active_role(service)
        if active is None:
            raise RolloutFailed(f"Service {self.settings.public_service} does not exist or selects no role")
        annotations = (service or {}).get("metadata", {}).get("annotations") or {}
        previous = annotations.get(ANNOTATION_PREFIX + "previous-role") or self.other(active)
        label = self.settings.role_label
        return Plan(
            f"switch public traffic back from role {active} to role {previous}",
            [f"patch Service/{self.settings.public_service} selector {label}: {active} -> {previous}"],
            data={"from_role": active, "to_role": previous},
        )

    def rollback(self, plan: Plan) -> Plan:
        to_role, from_role = str(plan.data["to_role"]), str(plan.data["from_role"])
        if not self.role_available(to_role):
            raise RolloutFailed(
                f"role {to_role} is not fully available; refusing to switch back",
                hint="scale it up (post-clean policy scale-down leaves it at 0) or deploy it again",
            )
        seconds = self._point_service_at(to_role, from_role)
        return Plan(
            f"public traffic back on role {to_role} in {seconds:.1f}s",
            plan.changes,
            data={"active_role": to_role, "previous_role": from_role},
        )

    def status(self) -> dict[str, Any]:
        facts = self.inspect().data
        service = self.public_service()
        annotations = (service or {}).get("metadata", {}).get("annotations") or {}
        roles = {}
        for role in self.settings.roles:
            found = self.role_deployments(role)
            roles[role] = {
                "public": role == facts["active_role"],
                "deployments": {
                    name: {
                        "images": _images(d),
                        "ready": f"{(d or {}).get('status', {}).get('readyReplicas') or 0}/"
                        f"{(d or {}).get('spec', {}).get('replicas', 0)}",
                        "rollout": rollout_status(d).message if d else "not deployed",
                    }
                    for name, d in found.items()
                },
            }
        return {
            "strategy": self.name,
            "public_service": self.settings.public_service,
            "public_url": service_url(service),
            "active_role": facts["active_role"],
            "annotations": {
                k.removeprefix(ANNOTATION_PREFIX): v for k, v in annotations.items() if k.startswith(ANNOTATION_PREFIX)
            },
            "roles": roles,
        }
