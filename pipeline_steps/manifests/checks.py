"""Checks of a rendered manifest set that catch what would break a zero-downtime release before it starts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pipeline_steps.errors import ConfigError
from pipeline_steps.image.reference import UNPINNED_HINT, names_a_version
from pipeline_steps.manifests.model import Manifest
from pipeline_steps.manifests.selectors import (
    dig,
    label_selector_selects,
    map_selects,
    pod_labels,
    pod_spec_path,
    show_labels,
    string_map,
)

_SELECTING_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_STRATEGIES = ("bluegreen", "rolling")
#: Kinds whose pods blue/green cannot give a role: deploy waits for Deployments only, so the switch could send
#: traffic to their pods before they are ready.
_NOT_ROLE_WORKLOADS = ("StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod")


@dataclasses.dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    where: str  #: `file:line (Kind/name)`
    field: str  #: e.g. `spec.template.spec.containers[0].readinessProbe`
    message: str
    hint: str


def check_manifests(
    manifests: Sequence[Manifest],
    *,
    strategy: str,
    role_label: str | None,
    public_service: str | None,
    allow_missing_readiness: bool,
    roles: Sequence[str] = (),
    target_role: str | None = None,
    namespace: str | None = None,
) -> list[Finding]:
    """Findings in manifest order. Errors should stop the release; warnings are reported.

    For bluegreen, the role label is left out when matching the public Service's selector against the pod
    templates (every Service's, when no public Service is named): its role is the live one, which is set
    at switch time and need not be the role rendered here. A public Service absent from the manifests is
    fine: it may already exist in the cluster. `roles` and `target_role` (the role rendered) check the role
    label's value; `namespace` (the release's) each object's own.
    """
    if strategy not in _STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}", field="strategy", hint="use bluegreen or rolling")
    bluegreen = strategy == "bluegreen"
    workloads = [(manifest, labels) for manifest in manifests if (labels := pod_labels(manifest)) is not None]
    autoscaled = _autoscaled_deployments(manifests)
    findings: list[Finding] = []
    for manifest in manifests:
        if namespace and manifest.namespace and manifest.namespace != namespace:
            message = f"is {manifest.namespace!r}, but the release goes to namespace {namespace!r}"
            hint = "remove metadata.namespace: the release's namespace applies to every object"
            findings.append(_finding("error", manifest, "metadata.namespace", message, hint))
        if (
            bluegreen
            and role_label
            and manifest.kind in _NOT_ROLE_WORKLOADS
            and role_label in (pod_labels(manifest) or {})
        ):
            message = (
                f"blue/green waits for the rollout of Deployments only, so the switch could send traffic to this "
                f"{manifest.kind}'s pods (labelled {role_label!r}) before they are ready"
            )
            hint = f"make it a Deployment, or take the {role_label!r} label off it and release it on its own"
            findings.append(_finding("error", manifest, "kind", message, hint))
        findings += _pinned_images(manifest)
        if manifest.kind in _SELECTING_WORKLOADS:
            findings += _own_selector(manifest)
        if manifest.kind == "Deployment":
            findings += _readiness(manifest, required=bluegreen and not allow_missing_readiness)
            if bluegreen and role_label:
                findings += _role_label(manifest, role_label, roles, target_role)
            if not bluegreen:
                findings += _rolling_pace(manifest, autoscaled=(manifest.namespace, manifest.name) in autoscaled)
        if manifest.kind == "Service":
            role_free = bluegreen and (not public_service or manifest.name == public_service)
            findings += _service_selector(manifest, workloads, ignored_label=role_label if role_free else None)
    return findings


def _finding(level: Literal["error", "warning"], manifest: Manifest, field: str, message: str, hint: str) -> Finding:
    return Finding(level=level, where=manifest.where, field=field, message=message, hint=hint)


def _own_selector(manifest: Manifest) -> list[Finding]:
    selector = dig(manifest.body, "spec", "selector")
    labels = pod_labels(manifest) or {}
    fix = "make spec.selector.matchLabels a subset of spec.template.metadata.labels"
    if not isinstance(selector, Mapping) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        message = f"{manifest.api_version} {manifest.kind} requires a non-empty spec.selector"
        return [_finding("error", manifest, "spec.selector", message, fix)]
    if label_selector_selects(selector, labels):
        return []
    shown = show_labels(string_map(selector.get("matchLabels")))
    if selector.get("matchExpressions"):
        shown += " with matchExpressions"
    message = (
        f"selector {shown} does not select the pod template's labels {show_labels(labels)}; "
        f"the API server rejects a {manifest.kind} that does not select its own pods"
    )
    return [_finding("error", manifest, "spec.selector", message, fix)]


def _readiness(manifest: Manifest, *, required: bool) -> list[Finding]:
    containers = dig(manifest.body, "spec", "template", "spec", "containers")
    findings = []
    for index, container in enumerate(containers if isinstance(containers, list) else []):
        if not isinstance(container, Mapping) or container.get("readinessProbe"):
            continue
        consequence = (
            "the switch can send traffic to pods that cannot serve yet"
            if required
            else "the rollout sends them traffic and removes old pods before the app can serve"
        )
        message = (
            f"container {container.get('name')!r} has no readinessProbe: its pods count as ready as soon as "
            f"they start, so {consequence}"
        )
        hint = "add a readinessProbe (e.g. httpGet on the app's health path) to the container"
        if required:
            hint += "; or set allow_missing_readiness: true in pipeline.yaml to release anyway"
        field = f"spec.template.spec.containers[{index}].readinessProbe"
        findings.append(_finding("error" if required else "warning", manifest, field, message, hint))
    return findings


def _pinned_images(manifest: Manifest) -> list[Finding]:
    spec_path = pod_spec_path(manifest)
    spec = dig(manifest.body, *spec_path) if spec_path else None
    if not isinstance(spec, Mapping):
        return []
    findings = []
    for group in ("initContainers", "containers"):
        containers = spec.get(group)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            image = container.get("image") if isinstance(container, Mapping) else None
            if isinstance(image, str) and image and not names_a_version(image):
                message = (
                    f"image {image!r} has neither tag nor digest: each pod would pull whatever `latest` is when it "
                    "starts, so one release could run different code, and an undo could not bring back what ran"
                )
                field = f"{'.'.join(spec_path or ())}.{group}[{index}].image"
                findings.append(_finding("error", manifest, field, message, UNPINNED_HINT))
    return findings


def _role_label(manifest: Manifest, role_label: str, roles: Sequence[str], target_role: str | None) -> list[Finding]:
    hint = f"add `{role_label}: ${{TARGET_ROLE}}` to spec.template.metadata.labels and spec.selector.matchLabels"
    labels = pod_labels(manifest) or {}
    if role_label not in labels:
        message = f"the pod template has no {role_label!r} label, so blue and green pods cannot be told apart"
        return [_finding("error", manifest, "spec.template.metadata.labels", message, hint)]
    value = labels[role_label]
    fix = f"write `{role_label}: ${{TARGET_ROLE}}`: the runner sets TARGET_ROLE to the role it deploys"
    if roles and value not in roles:
        message = (
            f"the pod template's {role_label!r} label is {value!r}, not one of bluegreen.roles ({', '.join(roles)})"
        )
        return [_finding("error", manifest, f"spec.template.metadata.labels.{role_label}", message, fix)]
    if target_role and value != target_role:
        message = (
            f"the pod template's {role_label!r} label is {value!r}, but this Deployment is rendered for role "
            f"{target_role!r}: both roles' pods would be labelled {value!r}"
        )
        return [_finding("error", manifest, f"spec.template.metadata.labels.{role_label}", message, fix)]
    selector = dig(manifest.body, "spec", "selector")
    expressions = selector.get("matchExpressions") if isinstance(selector, Mapping) else None
    in_selector = role_label in string_map(dig(manifest.body, "spec", "selector", "matchLabels")) or any(
        isinstance(expression, Mapping) and expression.get("key") == role_label
        for expression in (expressions if isinstance(expressions, list) else [])
    )
    if in_selector:
        return []
    message = (
        f"the selector does not include the {role_label!r} label, so the blue and green Deployments "
        "would select each other's pods"
    )
    return [_finding("error", manifest, "spec.selector.matchLabels", message, hint)]


def _rolling_pace(manifest: Manifest, *, autoscaled: bool) -> list[Finding]:
    strategy = dig(manifest.body, "spec", "strategy")
    strategy = strategy if isinstance(strategy, Mapping) else {}
    if strategy.get("type", "RollingUpdate") == "Recreate":
        message = "Recreate stops every old pod before starting new ones: the release is not zero-downtime"
        hint = "use type: RollingUpdate with maxUnavailable: 0 and maxSurge: 1 or more"
        return [_finding("warning", manifest, "spec.strategy.type", message, hint)]
    rolling = strategy.get("rollingUpdate")
    rolling = rolling if isinstance(rolling, Mapping) else {}
    max_unavailable = rolling.get("maxUnavailable", "25%")
    max_surge = rolling.get("maxSurge", "25%")
    field = "spec.strategy.rollingUpdate.maxUnavailable"
    if _is_zero(max_unavailable) and _is_zero(max_surge):
        message = "maxUnavailable and maxSurge are both 0, so the rollout cannot replace any pod"
        return [_finding("error", manifest, field, message, "set maxSurge to 1 or more")]
    replicas = dig(manifest.body, "spec", "replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        # Without replicas an autoscaler decides the count; otherwise the API server creates one pod.
        replicas = None if autoscaled else 1
    percent = _percent(max_unavailable)
    if percent is not None:
        all_down = percent >= 100 or (replicas is not None and 0 < replicas <= math.floor(replicas * percent / 100))
    else:
        all_down = isinstance(max_unavailable, int) and replicas is not None and 0 < replicas <= max_unavailable
    if not all_down:
        return []
    of = f" of {replicas} replica{'s' if replicas != 1 else ''}" if replicas is not None else ""
    message = f"maxUnavailable {max_unavailable}{of} lets every pod be down at once: the release is not zero-downtime"
    hint = "set maxUnavailable to 0 (or below replicas) and maxSurge to 1 or more, so new pods are ready first"
    return [_finding("warning", manifest, field, message, hint)]


def _percent(value: Any) -> float | None:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def _is_zero(value: Any) -> bool:
    return value in (0, "0", "0%") and not isinstance(value, bool)


def _autoscaled_deployments(manifests: Sequence[Manifest]) -> set[tuple[str | None, str]]:
    targets: set[tuple[str | None, str]] = set()
    for manifest in manifests:
        target = dig(manifest.body, "spec", "scaleTargetRef")
        if manifest.kind == "HorizontalPodAutoscaler" and dig(target, "kind") == "Deployment":
            targets.add((manifest.namespace, str(target.get("name"))))
    return targets


def _service_selector(
    service: Manifest, workloads: Sequence[tuple[Manifest, dict[str, str]]], *, ignored_label: str | None
) -> list[Finding]:
    if dig(service.body, "spec", "type") == "ExternalName":
        return []
    selector = string_map(dig(service.body, "spec", "selector"))
    compared = {key: value for key, value in selector.items() if key != ignored_label}
    if not compared:
        return []  # no selector: endpoints are managed by hand, or only the role decides
    candidates = [
        (workload, labels) for workload, labels in workloads if _same_namespace(workload.namespace, service.namespace)
    ]
    if any(map_selects(compared, labels) for _, labels in candidates):
        return []
    ignoring = f" (ignoring {ignored_label!r}, which the switch sets)" if ignored_label in selector else ""
    message = (
        f"selector {show_labels(selector)}{ignoring} matches the pods of no workload in the manifests, "
        "so the Service would have no endpoints"
    )
    if candidates:
        shown = "; ".join(f"{workload.kind}/{workload.name} {show_labels(labels)}" for workload, labels in candidates)
        hint = f"make spec.selector a subset of a pod template's labels; the templates here: {shown}"
    else:
        hint = "add the Deployment whose pods this Service selects to the manifests"
    return [_finding("error", service, "spec.selector", message, hint)]


def _same_namespace(first: str | None, second: str | None) -> bool:
    # An object without a namespace lands in the namespace of the release, which may be either one.
    return first is None or second is None or first == second
