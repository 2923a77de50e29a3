"""The `metrics.k8s.io/v1beta1` API of the sandbox's node agent: what it answers, in metrics-server's shapes.

Pure functions from usage figures and a request path to a status and a JSON body, so the HTTPS side
(metrics_server.py) only moves bytes. Quantities are written the way Kubernetes writes them (CPU in
nanocores, "12345n"; memory in bytes with a binary suffix, "20480Ki"), as metrics-server does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from pipeline_steps_sandbox.label_selectors import SelectorError, matches, parse_field_selector, parse_selector

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"

_DECIMAL_SUFFIXES = ((9, "G"), (6, "M"), (3, "k"), (0, ""), (-3, "m"), (-6, "u"), (-9, "n"))
_BINARY_SUFFIXES = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))


def cpu_quantity(nanocores: int) -> str:
    """Nanocores as Kubernetes' canonical decimal quantity: the largest SI suffix that keeps it an integer."""
    if nanocores == 0:
        return "0"
    for exponent, suffix in _DECIMAL_SUFFIXES:
        scale = 10 ** (exponent + 9)
        if nanocores % scale == 0:
            return f"{nanocores // scale}{suffix}"
    raise AssertionError("unreachable: every integer is a whole number of nanocores")


def memory_quantity(size: int) -> str:
    """Bytes as Kubernetes' canonical binary quantity ("4Ki", "12Mi"; "1000" when no power of 1024 divides it)."""
    if size == 0:
        return "0"
    for suffix, shift in _BINARY_SUFFIXES:
        if size % (1 << shift) == 0:
            return f"{size >> shift}{suffix}"
    return str(size)


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it, to the millisecond ("5.003s", "1m0.5s", "0s")."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    text = f"{secs}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContainerUsage:
    name: str
    nanocores: int
    memory_bytes: int


@dataclass(frozen=True)
class PodUsage:
    """One pod's usage over one window: the rate between two samples, taken at `timestamp`."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    node: str
    timestamp: dt.datetime
    window_seconds: float
    containers: tuple[ContainerUsage, ...]


@dataclass(frozen=True)
class NodeUsage:
    name: str
    labels: Mapping[str, str]
    timestamp: dt.datetime
    window_seconds: float
    nanocores: int
    memory_bytes: int


@dataclass(frozen=True)
class Snapshot:
    """Everything the API can answer at one moment."""

    pods: tuple[PodUsage, ...] = ()
    nodes: tuple[NodeUsage, ...] = ()
    #: When the answer is made: metadata.creationTimestamp, which metrics-server sets to "now" as well.
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def pod_metrics(pod: PodUsage, now: dt.datetime) -> dict[str, Any]:
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "creationTimestamp": rfc3339(now),
            "labels": dict(pod.labels),
        },
        "timestamp": rfc3339(pod.timestamp),
        "window": go_duration(pod.window_seconds),
        "containers": [
            {"name": c.name, "usage": {"cpu": cpu_quantity(c.nanocores), "memory": memory_quantity(c.memory_bytes)}}
            for c in pod.containers
        ],
    }


def node_metrics(node: NodeUsage, now: dt.datetime) -> dict[str, Any]:
    return {
        "kind": "NodeMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {"name": node.name, "creationTimestamp": rfc3339(now), "labels": dict(node.labels)},
        "timestamp": rfc3339(node.timestamp),
        "window": go_duration(node.window_seconds),
        "usage": {"cpu": cpu_quantity(node.nanocores), "memory": memory_quantity(node.memory_bytes)},
    }


def _listing(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


def status(code: int, reason: str, message: str, details: dict[str, str] | None = None) -> dict[str, Any]:
    """A metav1.Status, the body every Kubernetes API server answers an error with."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _not_found(resource: str, name: str) -> tuple[int, dict[str, Any]]:
    return 404, status(
        404,
        "NotFound",
        f'{resource}.{GROUP} "{name}" not found',
        {"name": name, "group": GROUP, "kind": resource},
    )


RESOURCES: list[dict[str, Any]] = [
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
]
_GROUP_VERSION_ENTRY = {"groupVersion": GROUP_VERSION, "version": VERSION}
API_GROUP: dict[str, Any] = {
    "kind": "APIGroup",
    "apiVersion": "v1",
    "name": GROUP,
    "versions": [_GROUP_VERSION_ENTRY],
    "preferredVersion": _GROUP_VERSION_ENTRY,
}


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [API_GROUP]}
    if path == f"/apis/{GROUP}":
        return API_GROUP
    if path == f"/apis/{GROUP_VERSION}":
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": RESOURCES}
    return None


Selected = Callable[[Mapping[str, str], Mapping[str, str]], bool]


def _selection(query: str, namespaced: bool) -> Selected:
    """The list's labelSelector and fieldSelector, as one test on (labels, fields)."""
    params = parse_qs(query)
    label_requirements = parse_selector(params.get("labelSelector", [""])[0])
    known_fields = ("metadata.name", "metadata.namespace") if namespaced else ("metadata.name",)
    field_requirements = parse_field_selector(params.get("fieldSelector", [""])[0], known_fields)

    def selected(labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
        return matches(label_requirements, labels) and matches(field_requirements, fields)

    return selected


def answer(method: str, path: str, query: str, snapshot: Snapshot) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for one request to the metrics API."""
    path = path.rstrip("/") or "/"
    if method not in ("GET", "HEAD"):
        return 405, status(405, "MethodNotAllowed", f"the metrics API only reads; {method} is not allowed")
    found = _discovery(path)
    if found is not None:
        return 200, found
    prefix = f"/apis/{GROUP_VERSION}/"
    if not path.startswith(prefix):
        return 404, status(404, "NotFound", f"the server could not find the requested resource ({path})")
    parts = path[len(prefix) :].split("/")
    try:
        if parts[0] == "nodes" and len(parts) <= 2:
            return _nodes(parts[1] if len(parts) == 2 else None, query, snapshot)
        if parts[0] == "pods" and len(parts) == 1:
            return _pods(None, None, query, snapshot)
        if parts[0] == "namespaces" and len(parts) in (3, 4) and parts[2] == "pods":
            return _pods(parts[1], parts[3] if len(parts) == 4 else None, query, snapshot)
    except SelectorError as exc:
        return 400, status(400, "BadRequest", str(exc))
    return 404, status(404, "NotFound", f"the server could not find the requested resource ({path})")


def _nodes(name: str | None, query: str, snapshot: Snapshot) -> tuple[int, dict[str, Any]]:
    if name is not None:
        for node in snapshot.nodes:
            if node.name == name:
                return 200, node_metrics(node, snapshot.now)
        return _not_found("nodes", name)
    selected = _selection(query, namespaced=False)
    items = [node_metrics(n, snapshot.now) for n in _by_name(snapshot.nodes) if selected(n.labels, _fields(n.name))]
    return 200, _listing("NodeMetricsList", items)


def _pods(namespace: str | None, name: str | None, query: str, snapshot: Snapshot) -> tuple[int, dict[str, Any]]:
    in_scope = [p for p in snapshot.pods if namespace is None or p.namespace == namespace]
    if name is not None:
        for pod in in_scope:
            if pod.name == name:
                return 200, pod_metrics(pod, snapshot.now)
        return _not_found("pods", f"{namespace}/{name}")
    selected = _selection(query, namespaced=True)
    items = [
        pod_metrics(p, snapshot.now)
        for p in sorted(in_scope, key=lambda p: (p.namespace, p.name))
        if selected(p.labels, _fields(p.name, p.namespace))
    ]
    return 200, _listing("PodMetricsList", items)


def _by_name(nodes: Sequence[NodeUsage]) -> list[NodeUsage]:
    return sorted(nodes, key=lambda n: n.name)


def _fields(name: str, namespace: str | None = None) -> dict[str, str]:
    fields = {"metadata.name": name}
    if namespace is not None:
        fields["metadata.namespace"] = namespace
    return fields
