"""Why a rollout is not getting anywhere, read from its pods and their events as a kubelet and the scheduler
report them: pure functions over plain API objects, so each reason is tested.

A deploy that fails names the pods and the reason (a container's waiting or terminated state and restart
count, a failing probe, a pod nobody can schedule). Some reasons are certain to last (an image that cannot
be pulled, a container that keeps crashing, a bad container config, a pod asking more than any node has when no
autoscaler is bringing a bigger one): waiting out the deadline for them only delays the undo, so the wait ends
early."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"

#: Waiting reasons that do not go away by themselves.
CERTAIN_WAITING = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}
)


#: Events by which a cluster autoscaler says a pending pod will get a node (cluster-autoscaler; Karpenter
#: nominates a node it is creating) or that no node group it has would take it.
SCALE_UP_COMING = frozenset({"TriggeredScaleUp", "Nominated"})
SCALE_UP_REFUSED = "NotTriggerScaleUp"


@dataclasses.dataclass(frozen=True)
class PodProblem:
    pod: str
    reason: str  #: e.g. CrashLoopBackOff, Unschedulable, Unhealthy
    detail: str
    certain: bool  #: it will not resolve by waiting

    def __str__(self) -> str:
        return f"pod {self.pod}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


def _ready(pod: Mapping[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def current_pods(
    deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The pods of the Deployment's current revision (its newest ReplicaSet), not those an earlier rollout left:
    a release after a failed one on the same Deployment still has the failed release's crashing pods around (the
    controller keeps unavailable old pods while the new ones are not available), and their reason is not this
    rollout's. All the pods, while the controller has not yet made the current ReplicaSet."""
    meta = deployment.get("metadata") or {}
    revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    current_hash = None
    for replica_set in replica_sets:
        rs_meta = replica_set.get("metadata") or {}
        owned = any(owner.get("uid") == meta.get("uid") for owner in rs_meta.get("ownerReferences") or [])
        if owned and revision and (rs_meta.get("annotations") or {}).get(REVISION_ANNOTATION) == revision:
            current_hash = (rs_meta.get("labels") or {}).get(TEMPLATE_HASH_LABEL)
    listed = list(pods)
    if current_hash is None:
        return listed
    return [
        pod
        for pod in listed
        if ((pod.get("metadata") or {}).get("labels") or {}).get(TEMPLATE_HASH_LABEL) == current_hash
    ]


def pod_problems(
    pods: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]] = (),
    largest_node: Mapping[str, float] | None = None,
) -> list[PodProblem]:
    """The problems of the pods that are not ready (a terminating pod is no problem). `largest_node` is the most
    any one node offers of each resource (its allocatable), when the nodes could be read."""
    latest_event: dict[str, Mapping[str, Any]] = {}
    reasons: dict[str, set[str]] = {}
    # The API lists events by name, not by time, and a repeated event (a probe failing every period) is one object
    # whose count and last time go up: the latest is the one last seen. Sorting is stable: ties keep list order.
    for event in sorted(events, key=_last_seen):
        involved = (event.get("involvedObject") or {}).get("name")
        if not involved:
            continue
        reasons.setdefault(involved, set()).add(str(event.get("reason") or ""))
        if event.get("type") == "Warning":
            latest_event[involved] = event
    problems: list[PodProblem] = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = meta.get("name", "?")
        if meta.get("deletionTimestamp") or _ready(pod):
            continue
        found = _container_problem(name, status)
        if found is None:
            found = _scheduling_problem(pod, reasons.get(name, set()), largest_node)
        if found is None and name in latest_event:
            event = latest_event[name]
            found = PodProblem(name, str(event.get("reason") or "Warning"), str(event.get("message") or ""), False)
        if found is not None:
            problems.append(found)
    return problems


def _last_seen(event: Mapping[str, Any]) -> str:
    """When an event was last seen, as an RFC 3339 string (they compare in time order within one format)."""
    series = event.get("series") or {}
    seen = series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")
    return str(seen or event.get("firstTimestamp") or (event.get("metadata") or {}).get("creationTimestamp") or "")


def _container_problem(pod: str, status: Mapping[str, Any]) -> PodProblem | None:
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = container.get("state") or {}
        restarts = int(container.get("restartCount") or 0)
        again = f", restarted {restarts} times" if restarts else ""
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            reason = str(waiting["reason"])
            # A crash loop's cause is in how the container last ended (exit code 1, OOMKilled), as kubectl shows it.
            last = (container.get("lastState") or {}).get("terminated") or {}
            ended = f", last exited {last.get('exitCode')} ({last.get('reason') or 'Error'})" if last else ""
            detail = f"container {container.get('name')}: {waiting.get('message') or reason}{again}{ended}"
            return PodProblem(pod, reason, detail, reason in CERTAIN_WAITING)
        terminated = state.get("terminated") or {}
        if terminated:
            reason = str(terminated.get("reason") or "Terminated")
            detail = f"container {container.get('name')} exited {terminated.get('exitCode')}{again}"
            return PodProblem(pod, reason, detail, restarts >= 3)
    return None


def _scheduling_problem(
    pod: Mapping[str, Any], event_reasons: set[str], largest_node: Mapping[str, float] | None
) -> PodProblem | None:
    name = (pod.get("metadata") or {}).get("name", "?")
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = str(condition.get("reason") or "Unschedulable")
            message = str(condition.get("message") or "")
            if reason != "Unschedulable" or event_reasons & SCALE_UP_COMING:
                return PodProblem(name, reason, message, False)
            if SCALE_UP_REFUSED in event_reasons:
                return PodProblem(name, reason, f"{message} (the cluster autoscaler has no node group for it)", True)
            # Certain only when no node could ever take it (it asks more than the largest has in all) and no
            # autoscaler is bringing one; a node that is merely full may be freed or added.
            too_big = _beyond(requests_of(pod), largest_node or {})
            if too_big:
                return PodProblem(name, reason, f"{message} ({too_big})", True)
            return PodProblem(name, reason, message, False)
    return None


def requests_of(pod: Mapping[str, Any]) -> dict[str, float]:
    """What a pod asks the scheduler for: its containers' requests together, or its largest init container's."""
    spec = pod.get("spec") or {}

    def requests(container: Mapping[str, Any]) -> dict[str, float]:
        asked = ((container.get("resources") or {}).get("requests")) or {}
        return {resource: quantity(value) for resource, value in asked.items()}

    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        for resource, amount in requests(container).items():
            total[resource] = total.get(resource, 0.0) + amount
    for container in spec.get("initContainers") or []:
        for resource, amount in requests(container).items():
            total[resource] = max(total.get(resource, 0.0), amount)
    return total


def _beyond(asked: Mapping[str, float], largest_node: Mapping[str, float]) -> str:
    over = [
        f"asks {_shown(asked[resource])} {resource}, the largest node has {_shown(largest_node[resource])}"
        for resource in sorted(asked)
        if resource in largest_node and asked[resource] > largest_node[resource]
    ]
    return "; ".join(over)


def _shown(amount: float) -> str:
    return f"{amount:g}"


def largest_node(nodes: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The most any one node offers of each resource to pods (its allocatable)."""
    most: dict[str, float] = {}
    for node in nodes:
        for resource, value in (((node.get("status") or {}).get("allocatable")) or {}).items():
            most[resource] = max(most.get(resource, 0.0), quantity(value))
    return most


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def quantity(value: Any) -> float:
    """A Kubernetes resource quantity ("250m", "32Gi", 4) as a number of its unit; 0 when it does not parse."""
    found = _QUANTITY.match(str(value).strip())
    if not found or found.group(2) not in _SUFFIXES:
        return 0.0
    return float(found.group(1)) * _SUFFIXES[found.group(2)]


def describe(problems: Iterable[PodProblem], limit: int = 3) -> str:
    listed = list(problems)
    shown = "; ".join(str(p) for p in listed[:limit])
    return shown + (f"; and {len(listed) - limit} more" if len(listed) > limit else "")
