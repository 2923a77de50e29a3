"""Readiness rules as pure predicates over plain API objects (dicts, as the API server sends them).

They follow what `kubectl rollout status` and the endpoint controller mean by "done", so a step waits
for the state the data plane follows rather than for a guessed number of seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class RolloutStatus:
    done: bool
    failed: bool
    message: str


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def rollout_status(deployment: Mapping[str, Any], *, at_least_one: bool = False) -> RolloutStatus:
    """Whether a Deployment's rollout is complete: the controller has seen the latest spec, every replica
    runs the new template and is available, and no old replica is left; failed past its progress deadline.

    `at_least_one`: zero wanted replicas is not rolled out (a blue/green role is deployed to be made public;
    at 0 replicas an HPA does not scale it, and its test Service would be empty)."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name", "?")
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return RolloutStatus(False, False, f"deployment {name}: waiting for the controller to see the new spec")
    progressing = _condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutStatus(False, True, f"deployment {name}: exceeded its progress deadline")
    wanted = spec.get("replicas", 1)
    if at_least_one and wanted == 0:
        return RolloutStatus(False, False, f"deployment {name}: 0 replicas wanted; waiting for it to be scaled up")
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < wanted:
        return RolloutStatus(False, False, f"deployment {name}: {updated} of {wanted} replicas updated")
    if total > updated:
        return RolloutStatus(False, False, f"deployment {name}: {total - updated} old replicas pending termination")
    if available < updated:
        return RolloutStatus(False, False, f"deployment {name}: {available} of {updated} updated replicas available")
    return RolloutStatus(True, False, f"deployment {name}: {available} of {wanted} replicas updated and available")


def fully_available(deployment: Mapping[str, Any]) -> bool:
    """Safe to send all traffic to: rolled out, with at least one replica, all of them available."""
    status = rollout_status(deployment)
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    return status.done and wanted > 0


@dataclasses.dataclass(frozen=True)
class EndpointsView:
    ready: frozenset[str]  #: pod names of ready endpoints
    not_ready: frozenset[str]  #: pod names of endpoints listed but not ready (or terminating)


def endpoints_view(slices: Iterable[Mapping[str, Any]]) -> EndpointsView:
    ready: set[str] = set()
    not_ready: set[str] = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            target = (endpoint.get("targetRef") or {}).get("name") or ",".join(endpoint.get("addresses") or [])
            conditions = endpoint.get("conditions") or {}
            # An unset `ready` means ready (EndpointSlice API); terminating endpoints carry ready=false.
            if conditions.get("ready", True) and not conditions.get("terminating", False):
                ready.add(target)
            else:
                not_ready.add(target)
    return EndpointsView(frozenset(ready), frozenset(not_ready))


def serves_only(view: EndpointsView, pods: Iterable[str]) -> bool:
    """The Service's endpoints list only the given pods, at least one of them ready: what a proxy that
    follows the slices will send traffic to."""
    wanted = set(pods)
    return bool(view.ready) and view.ready <= wanted and view.not_ready <= wanted


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """The kubelet says the pod passes its readiness probes, and it is not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    condition = _condition(pod, "Ready")
    return bool(condition and condition.get("status") == "True")


@dataclasses.dataclass(frozen=True)
class RoleEndpoints:
    """A Service's endpoints judged by their pods' role label (names: the pods', or the addresses')."""

    ready: frozenset[str]  #: endpoints of the role's pods that take traffic
    not_ready: frozenset[str]  #: endpoints of the role's pods that do not (yet, or any more)
    others: frozenset[str]  #: endpoints of pods of another role, or of no pod known (they may be anyone's)


def role_endpoints(
    slices: Iterable[Mapping[str, Any]],
    pods: Mapping[str, Mapping[str, Any]],
    *,
    role_label: str,
    role: str,
    publish_not_ready: bool = False,
) -> RoleEndpoints:
    """Each endpoint of the slices judged by its pod, as it is now: `pods` by name.

    Pods come and go during a wait (HPA scale-ups, evictions, node upgrades): a list of names taken once is
    out of date at the first of them, while the role label of each endpoint's pod is not. With
    `publishNotReadyAddresses` the endpoint controller marks every endpoint ready; then the pod's own Ready
    condition tells whether it serves."""
    ready: set[str] = set()
    not_ready: set[str] = set()
    others: set[str] = set()
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            reference = endpoint.get("targetRef") or {}
            name = reference.get("name") or ",".join(endpoint.get("addresses") or [])
            pod = pods.get(name) if reference.get("kind", "Pod") == "Pod" else None
            labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
            if pod is None or labels.get(role_label) != role:
                others.add(name)
                continue
            conditions = endpoint.get("conditions") or {}
            if conditions.get("terminating", False):
                serving = False
            elif publish_not_ready:
                serving = pod_ready(pod)
            else:
                # An unset `ready` means ready (EndpointSlice API).
                serving = bool(conditions.get("ready", True))
            (ready if serving else not_ready).add(name)
    return RoleEndpoints(frozenset(ready), frozenset(not_ready), frozenset(others))


def switched_to(view: RoleEndpoints) -> bool:
    """A switch is done: no endpoint of another role is left, and at least one of the new role's serves."""
    return not view.others and bool(view.ready)
