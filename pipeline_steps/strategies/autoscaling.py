"""Deployments that a HorizontalPodAutoscaler scales: who owns `spec.replicas`, and the replicas a role needs.

An HPA sets a Deployment's replicas through its scale subresource. An apply that sets them too (every
manifest's `replicas: 2`) would scale a 20-pod production Deployment to 2 mid-rollout, and the HPA would
scale it back a sync later. So a Deployment an HPA targets (one in the manifests, or one already in the
cluster) is applied without `spec.replicas`. Dropping a field our manager alone owned would reset it to its
default (1); a second manager of ours first holds it at its live value (the handover the Kubernetes
documentation describes for moving a Deployment to autoscaling).

An HPA also does nothing for a Deployment at 0 replicas (scaling is disabled there): a role that scale-down
left at 0 stays at 0 when the next release applies manifests without `replicas`. Deploy restores it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline_steps.render import Manifest

HPA_API_VERSION = "autoscaling/v2"
HPA_KIND = "HorizontalPodAutoscaler"


@dataclasses.dataclass(frozen=True)
class Autoscaler:
    name: str  #: the HPA's name
    target: str  #: the name of the Deployment it scales
    min_replicas: int
    max_replicas: int

    @property
    def label(self) -> str:
        return f"{HPA_KIND}/{self.name}"


def autoscaler_of(hpa: Mapping[str, Any]) -> Autoscaler | None:
    """The HPA as an Autoscaler when it scales a Deployment (apps group); None for any other target."""
    spec = hpa.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    api_version = str(ref.get("apiVersion") or "")
    if ref.get("kind") != "Deployment" or api_version.split("/", maxsplit=1)[0] not in ("apps", "extensions"):
        return None
    name = ((hpa.get("metadata") or {}).get("name")) or "?"
    minimum = spec.get("minReplicas")
    maximum = spec.get("maxReplicas")
    return Autoscaler(str(name), str(ref.get("name")), 1 if minimum is None else int(minimum), int(maximum or 0))


def autoscalers_by_target(
    in_cluster: Iterable[Mapping[str, Any]], in_manifests: Iterable[Mapping[str, Any]]
) -> dict[str, Autoscaler]:
    """Each autoscaled Deployment's HPA, by the Deployment's name. An HPA of the manifests replaces the cluster's
    one of the same name (it is what this release applies)."""
    by_name: dict[str, Autoscaler] = {}
    for hpa in [*in_cluster, *in_manifests]:
        found = autoscaler_of(hpa)
        if found is not None:
            by_name[found.name] = found
    return {found.target: found for found in by_name.values()}


def hpas_of(manifests: Iterable[Manifest]) -> list[dict[str, Any]]:
    return [m.body for m in manifests if m.kind == HPA_KIND]


def leave_replicas_to_autoscalers(
    manifests: Iterable[Manifest], autoscaled: Mapping[str, Autoscaler]
) -> list[Manifest]:
    """The manifests with `spec.replicas` taken out of every Deployment an HPA scales."""
    result = []
    for manifest in manifests:
        spec = manifest.body.get("spec")
        if (
            manifest.kind == "Deployment"
            and manifest.name in autoscaled
            and isinstance(spec, dict)
            and "replicas" in spec
        ):
            body = copy.deepcopy(manifest.body)
            del body["spec"]["replicas"]
            result.append(dataclasses.replace(manifest, body=body))
        else:
            result.append(manifest)
    return result


def autoscaled_notes(manifests: Iterable[Manifest], autoscaled: Mapping[str, Autoscaler]) -> list[str]:
    """What the plan says of each autoscaled Deployment."""
    return [
        f"leave spec.replicas of Deployment/{m.name} to {autoscaled[m.name].label} "
        f"({autoscaled[m.name].min_replicas}-{autoscaled[m.name].max_replicas} replicas)"
        for m in manifests
        if m.kind == "Deployment" and m.name in autoscaled
    ]


def owns_replicas(live: Mapping[str, Any] | None, manager: str) -> bool:
    """Whether `manager`'s apply (not an update) holds the live Deployment's spec.replicas."""
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply" or entry.get("subresource"):
            continue
        fields = entry.get("fieldsV1") or {}
        if "f:replicas" in (fields.get("f:spec") or {}):
            return True
    return False


def replicas_handover(manifest: Manifest, live: Mapping[str, Any] | None, manager: str) -> dict[str, Any] | None:
    """The object a second manager applies first so that applying `manifest` without replicas keeps the live
    count; None when nothing would reset (the manifest sets replicas, the Deployment is new, or another manager
    such as the HPA holds them already)."""
    if manifest.kind != "Deployment" or "replicas" in (manifest.body.get("spec") or {}):
        return None
    replicas = ((live or {}).get("spec") or {}).get("replicas")
    if replicas is None or not owns_replicas(live, manager):
        return None
    return {
        "apiVersion": manifest.api_version,
        "kind": "Deployment",
        "metadata": {"name": manifest.name},
        "spec": {"replicas": replicas},
    }


def replicas_to_restore(
    live_replicas: int | None,
    manifest_replicas: int | None,
    autoscaler: Autoscaler | None,
    active_replicas: int | None,
) -> int | None:
    """The replicas a blue/green role needs when its live Deployment is at 0 (scale-down left it there);
    None when it is not at 0, or when the apply itself sets them (the manifest says how many, no HPA).

    An HPA does not scale up from 0: its minReplicas. Without one, the count the manifest gives, else what the
    active role runs, else 1."""
    if live_replicas != 0:
        return None
    if autoscaler is not None:
        return max(autoscaler.min_replicas, 1)
    if manifest_replicas is not None:
        return None
    return max(active_replicas or 0, 1)
