"""Waiting until the public Service's EndpointSlices list only the new role's ready pods: the moment the
switch is done as far as the cluster can tell (proxies follow the slices, a sync period later)."""

from __future__ import annotations

from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RolloutFailed
from pipeline_steps.kube.cluster import WaitTimeout
from pipeline_steps.kube.readiness import endpoints_view, serves_only


def wait_endpoints(ctx: ReleaseContext, service: str, role: str, pods: set[str]) -> None:
    """Wait by watch until `service` has ready endpoints of `pods` (the role's) and no others."""

    def describe(objects: dict[str, dict[str, Any]]) -> str:
        view = endpoints_view(objects.values())
        others = (view.ready | view.not_ready) - pods
        return f"service {service}: {len(view.ready & pods)} ready endpoints of role {role}, {len(others)} others"

    try:
        ctx.cluster.wait(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            label_selector=f"kubernetes.io/service-name={service}",
            done=lambda objects: serves_only(endpoints_view(objects.values()), pods),
            describe=describe,
            timeout=ctx.config.timeouts.switch_s,
            on_progress=ctx.progress,
        )
    except WaitTimeout as exc:
        raise RolloutFailed(f"switch to role {role}: endpoints did not follow: {exc.message}") from exc
