"""What both strategies do with workloads: render, plan an apply as a diff, apply, wait, undo."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ClusterError, ConfigError, RenderError
from pipeline_steps.kube.cluster import FIELD_MANAGER, REPLICAS_HANDOVER_MANAGER
from pipeline_steps.kube.diff import object_diff
from pipeline_steps.kube.offline import OfflineCluster
from pipeline_steps.manifests.drain import add_pre_stop, drain_findings
from pipeline_steps.render import Manifest, check_manifests, load_manifests
from pipeline_steps.strategies.autoscaling import (
    HPA_API_VERSION,
    HPA_KIND,
    Autoscaler,
    autoscalers_by_target,
    hpas_of,
    leave_replicas_to_autoscalers,
    replicas_handover,
)

UNSET_MARK = "pipeline-steps-unset-"


def _unset_value(name: str) -> str:
    return UNSET_MARK + name.lower().replace("_", "-")


def render(ctx: ReleaseContext, role: str | None, *, names_only: bool = False) -> list[Manifest]:
    """The app's manifests for one role (blue/green) or for the app (rolling), validated.

    `names_only`: for reading the cluster (status, rollback, a stage run before prepare-image), only the
    objects' kinds, names and selectors matter. Variables that feed nothing else (an image tag, a replica
    count) may be unset; one that a name or selector needs is the usual error. Never applied."""
    config = ctx.config
    variables = ctx.variables(**({"TARGET_ROLE": role} if role else {}))
    if names_only:
        manifests, _ = load_manifests(
            config.manifests, base_dir=config.base_dir, variables=variables, unset_value=_unset_value
        )
        for manifest in manifests:
            _check_identity_is_set(manifest)
        return manifests
    manifests, warnings = load_manifests(config.manifests, base_dir=config.base_dir, variables=variables)
    for warning in warnings:
        # "file:line (Kind/name): text": the same line of the same file is one finding, whichever role.
        ctx.warn(warning, key=re.sub(r" \([^)]*\)", "", warning, count=1))
    manifests = add_pre_stop(manifests, config.drain.pre_stop_sleep_s)
    findings = check_manifests(
        manifests,
        strategy=config.strategy,
        role_label=config.bluegreen.role_label if config.strategy == "bluegreen" else None,
        public_service=config.public_service,
        allow_missing_readiness=config.allow_missing_readiness,
        roles=config.bluegreen.roles if config.strategy == "bluegreen" else (),
        target_role=role,
        namespace=ctx.cluster.namespace,
    )
    if not config.drain.accept_lost_requests:
        stops_pods = config.strategy == "rolling" or config.post_clean.policy == "scale-down"
        findings += drain_findings(manifests, stops_pods=stops_pods)
    errors = [f for f in findings if f.level == "error"]
    for finding in findings:
        if finding.level != "error":
            ctx.warn(
                f"{finding.where}: {finding.field}: {finding.message}",
                key=re.sub(r" \([^)]*\)", "", f"{finding.where}: {finding.field}: {finding.message}", count=1),
            )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{first.message}{more}", source=first.where, field=first.field, hint=first.hint)
    return leave_replicas_to_autoscalers(manifests, autoscalers(ctx, manifests))


def autoscalers(ctx: ReleaseContext, manifests: Sequence[Manifest]) -> dict[str, Autoscaler]:
    """The HPAs that scale the manifests' Deployments, by Deployment name: the manifests' own and the cluster's."""
    return autoscalers_by_target(_cluster_hpas(ctx), hpas_of(manifests))


def _cluster_hpas(ctx: ReleaseContext) -> list[dict[str, Any]]:
    if ctx.offline or isinstance(ctx.cluster, OfflineCluster):  # rendering without a cluster: the manifests' only
        return []
    try:
        return ctx.cluster.list(HPA_API_VERSION, HPA_KIND)
    except ConfigError:  # a cluster that does not serve autoscaling/v2 (before 1.23) has none to read
        return []
    except ClusterError as exc:
        if exc.status != 403:
            raise
        ctx.warn(
            "cannot list HorizontalPodAutoscalers (403): Deployments an HPA of the cluster scales get the manifests' "
            "replicas; grant `list` on horizontalpodautoscalers (`pipeline-steps rbac` prints the Role)"
        )
        return []


def _check_identity_is_set(manifest: Manifest) -> None:
    spec = manifest.body.get("spec") or {}
    selector = spec.get("selector") or {}
    identity = {
        "metadata.name": manifest.name,
        "spec.selector": " ".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or selector).items()),
    }
    for field, text in identity.items():
        if UNSET_MARK in text:
            name = text.split(UNSET_MARK, 1)[1].split()[0].split("=")[0].upper().replace("-", "_")
            raise RenderError(
                f"${{{name}}} is not set, and {manifest.kind} {field} depends on it",
                source=f"{manifest.source}:{manifest.line}",
                field=field,
                hint=f"set it in the environment or pass --set {name}=...",
            )


def deployments(manifests: Iterable[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.kind == "Deployment"]


@dataclasses.dataclass(frozen=True)
class ObjectChange:
    manifest: Manifest
    live: dict[str, Any] | None
    diff: str

    @property
    def action(self) -> str:
        if self.live is None:
            return "create"
        return "update" if self.diff else "unchanged"

    @property
    def label(self) -> str:
        return f"{self.manifest.kind}/{self.manifest.name}"


def plan_apply(ctx: ReleaseContext, manifests: Sequence[Manifest], *, namespace_exists: bool) -> list[ObjectChange]:
    """Ask the API server what applying would give (server-side dry-run) and diff it against what is live.

    In a namespace that does not exist yet, the server cannot dry-run namespaced objects; they are all
    creations, shown in full."""
    changes = []
    for manifest in manifests:
        if not namespace_exists:
            changes.append(ObjectChange(manifest, None, object_diff(None, manifest.body, _label(manifest))))
            continue
        try:
            live = ctx.cluster.get(manifest.api_version, manifest.kind, manifest.name)
            planned = ctx.cluster.apply(manifest.body, dry_run=True, force=ctx.config.apply.force_conflicts)
            handover = replicas_handover(manifest, live, FIELD_MANAGER)
            if handover is not None:  # apply_objects hands them over first: they keep their live value
                planned["spec"]["replicas"] = handover["spec"]["replicas"]
        except ConfigError as exc:  # a kind the cluster does not serve, a body it refuses: say which manifest
            if exc.source:
                raise
            raise ConfigError(exc.message, source=manifest.where, hint=exc.hint) from exc
        changes.append(ObjectChange(manifest, live, object_diff(live, planned, _label(manifest))))
    return changes


def _label(manifest: Manifest) -> str:
    return f"{manifest.kind}/{manifest.name}"


def ensure_namespace(ctx: ReleaseContext) -> bool:
    """Create the namespace of a first release; True if it was created."""
    if ctx.cluster.namespace_exists():
        return False
    ctx.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ctx.cluster.namespace}})
    return True


def apply_objects(ctx: ReleaseContext, manifests: Iterable[Manifest]) -> None:
    """Server-side apply of exactly these objects, in order (a plan's objects: what its diff showed). A Deployment
    whose replicas the manifest no longer sets keeps its live count (see strategies/autoscaling.py)."""
    for manifest in manifests:
        if manifest.kind == "Deployment" and "replicas" not in (manifest.body.get("spec") or {}):
            live = ctx.cluster.get(manifest.api_version, manifest.kind, manifest.name)
            handover = replicas_handover(manifest, live, FIELD_MANAGER)
            if handover is not None:
                ctx.cluster.apply(handover, field_manager=REPLICAS_HANDOVER_MANAGER)
        ctx.cluster.apply(manifest.body, force=ctx.config.apply.force_conflicts)
        ctx.progress(f"applied {_label(manifest)}")


def service_url(service: dict[str, Any] | None) -> str | None:
    """http://address:port of a Service reachable from outside: its load balancer's address."""
    if not service:
        return None
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ports = (service.get("spec") or {}).get("ports") or []
    if not ingress or not ports:
        return None
    host = ingress[0].get("ip") or ingress[0].get("hostname")
    return f"http://{host}:{ports[0]['port']}" if host else None
