"""Other owners of what a release changes: refuse before anything changes when a GitOps controller would put the
public Service's selector or a Deployment's replicas back, and take over client-side apply's (and Helm's) fields
once, as `kubectl apply --server-side` does (the rules are in pipeline_steps.kube.ownership)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ConfigError
from pipeline_steps.kube.cluster import FIELD_MANAGER
from pipeline_steps.kube.errors import call
from pipeline_steps.kube.ownership import client_side_owners, gitops_claims, upgraded_managed_fields
from pipeline_steps.render import Manifest


def plan_takeover(ctx: ReleaseContext, manifests: Iterable[Manifest]) -> list[dict[str, Any]]:
    """The objects (the public Service and the manifests' objects, as they are live) whose client-side owners'
    fields this release takes over; ConfigError, before anything changed, when a GitOps controller owns a field
    the release moves."""
    targets = {("v1", "Service", ctx.config.public_service): None}
    targets.update({(m.api_version, m.kind, m.name): None for m in manifests})
    claims, takeovers = [], []
    for api_version, kind, name in targets:
        try:
            live = ctx.cluster.get(api_version, kind, name)
        except ConfigError:  # a kind the cluster does not serve: deploy's plan names the manifest and line
            continue
        if live is None:
            continue
        claims += gitops_claims(live)
        managers = client_side_owners(live)
        if managers:
            takeovers.append({"api_version": api_version, "kind": kind, "name": name, "managers": managers})
    if claims:
        tools = sorted({claim.tool for claim in claims})
        raise ConfigError(
            f"{'; '.join(str(c) for c in claims)}: a release would move it and {' and '.join(tools)} would put it "
            "back, silently flipping traffic",
            hint="; ".join(dict.fromkeys(c.fix for c in claims if c.fix))
            + "; then release again (nothing was changed)",
        )
    return takeovers


def take_over(ctx: ReleaseContext, takeovers: Iterable[dict[str, Any]]) -> list[str]:
    """Move the client-side managers' fields into this tool's Apply entry, each object in one JSON patch that
    holds only if the object is still the one read (its resourceVersion); what was taken over."""
    done = []
    for item in takeovers:
        kind, name = item["kind"], item["name"]
        live = ctx.cluster.get(item["api_version"], kind, name)
        upgraded = upgraded_managed_fields(live, FIELD_MANAGER) if live is not None else None
        if live is None or upgraded is None:
            continue
        _patch_managed_fields(ctx, item["api_version"], kind, name, live["metadata"]["resourceVersion"], upgraded)
        managers = ", ".join(client_side_owners(live))
        ctx.progress(f"took over the fields of {kind}/{name} from {managers} (as kubectl apply --server-side does)")
        done.append(f"{kind}/{name} from {managers}")
    return done


def _patch_managed_fields(
    ctx: ReleaseContext, api_version: str, kind: str, name: str, version: str, managed: list[dict[str, Any]]
) -> None:
    resource = ctx.cluster.resource(api_version, kind)
    operations = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "replace", "path": "/metadata/managedFields", "value": managed},
    ]

    def patch() -> Any:
        return resource.patch(
            name=name, namespace=ctx.cluster.namespace, body=operations, content_type="application/json-patch+json"
        )

    call(f"take over the fields of {kind}/{name}", patch)
