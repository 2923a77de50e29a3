"""Waiting until the public Service's EndpointSlices list only the new role's pods, one of them ready: the
moment the switch is done as far as the cluster can tell (proxies follow the slices, a sync period later).

Each endpoint is judged by its pod's role label as the pod is at that event, never against a list of pod
names taken before the wait: pods the HPA, an eviction or a node upgrade creates meanwhile count as what
they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RolloutFailed
from pipeline_steps.kube.cluster import WaitTimeout
from pipeline_steps.kube.readiness import RoleEndpoints, role_endpoints, switched_to


def pods_selector(service: Mapping[str, Any], role_label: str) -> str:
    """The pods either role of the Service may select: its selector without the role, and with a role label."""
    selector = dict((service.get("spec") or {}).get("selector") or {})
    selector.pop(role_label, None)
    return ",".join([*(f"{k}={v}" for k, v in sorted(selector.items())), role_label])


def describe_endpoints(service: str, role: str, view: RoleEndpoints) -> str:
    text = f"service {service}: {len(view.ready)} ready endpoints of role {role}"
    if view.not_ready:
        text += f" ({len(view.not_ready)} not ready)"
    return text + f", {len(view.others)} of other roles"


def wait_endpoints(ctx: ReleaseContext, service: Mapping[str, Any], role: str, role_label: str) -> None:
    """Wait by watch until `service` (as just patched) lists endpoints of `role`'s pods only, one of them ready."""
    name = service["metadata"]["name"]
    selector = pods_selector(service, role_label)
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    seen: dict[tuple[tuple[str, str], ...], RoleEndpoints] = {}

    def judge(objects: dict[str, dict[str, Any]]) -> RoleEndpoints:
        # The pods are read again whenever the slices change (a pod's readiness changes its slice too), once
        # per change: `describe` and `done` see the same slices.
        key = tuple(sorted((n, str(o.get("metadata", {}).get("resourceVersion"))) for n, o in objects.items()))
        if key not in seen:
            seen.clear()
            pods = {p["metadata"]["name"]: p for p in ctx.cluster.list("v1", "Pod", label_selector=selector)}
            seen[key] = role_endpoints(
                objects.values(), pods, role_label=role_label, role=role, publish_not_ready=publish_not_ready
            )
        return seen[key]

    try:
        ctx.cluster.wait(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            label_selector=f"kubernetes.io/service-name={name}",
            done=lambda objects: switched_to(judge(objects)),
            describe=lambda objects: describe_endpoints(name, role, judge(objects)),
            timeout=ctx.config.timeouts.switch_s,
            on_progress=ctx.progress,
        )
    except WaitTimeout as exc:
        raise RolloutFailed(f"switch to role {role}: endpoints did not follow: {exc.message}") from exc
