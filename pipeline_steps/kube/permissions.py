"""What the CI identity needs on the cluster, and nothing more: the permissions of every call the steps make
(through KubeCluster and the release lock), plus create/patch of the kinds a team's manifests hold.

`pipeline-steps rbac` prints them as a namespaced Role and RoleBinding. The end-to-end test runs a whole
release under a ServiceAccount bound only to that Role: a call missing here fails it with 403."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Permission:
    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str


#: The calls of the steps themselves, whatever the manifests hold.
STEP_PERMISSIONS: tuple[Permission, ...] = (
    Permission("apps", "deployments", ("get", "list", "watch", "create", "patch"), "deploy, wait, undo, scale down"),
    Permission(
        "apps", "replicasets", ("list",), "undo: the pod template of the revision to go back to; a rollout's own pods"
    ),
    Permission(
        "apps", "deployments/scale", ("patch",), "restore a role scale-down left at 0; capacity before a switch"
    ),
    Permission(
        "autoscaling",
        "horizontalpodautoscalers",
        ("list", "patch"),
        "leave replicas to an HPA; raise its minReplicas for a switch and give it back",
    ),
    Permission("", "pods", ("list",), "the pods of a role; why a rollout is stuck"),
    Permission("", "events", ("list",), "why a rollout is stuck (probe failures, scheduling)"),
    Permission("", "services", ("get", "list", "watch", "create", "patch"), "switch, test endpoints, status"),
    Permission("discovery.k8s.io", "endpointslices", ("list", "watch"), "switch: wait until the endpoints follow"),
    Permission("coordination.k8s.io", "leases", ("get", "create", "update", "delete"), "the release lock"),
    Permission("", "configmaps", ("get", "list", "watch", "create", "patch"), "the approval record (confirm: wait)"),
)

#: What reaching a Service for verify needs beyond reading it, by access mode (`access.<stage>.mode`).
#: A port forward is a websocket GET that the apiserver also authorizes as `create` (Kubernetes 1.35+).
ACCESS_PERMISSIONS: dict[str, Permission] = {
    "apiserver-proxy": Permission("", "services/proxy", ("get",), "verify through the apiserver's service proxy"),
    "port-forward": Permission("", "pods/portforward", ("get", "create"), "verify through a port forward to a pod"),
}

#: Server-side apply of a manifest's object: read it, dry-run and apply (patch), create it the first time.
APPLY_VERBS = ("get", "create", "patch")

_KNOWN_GROUPS = {"v1": ""}


def plural(kind: str) -> str:
    """The resource name of a kind, as the API server's discovery names the built-in ones."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def manifest_permissions(objects: Iterable[tuple[str, str]]) -> list[Permission]:
    """Apply permissions for (apiVersion, kind) pairs the manifests hold, beyond what the steps need already."""
    found: dict[tuple[str, str], Permission] = {}
    for api_version, kind in objects:
        group = _KNOWN_GROUPS.get(api_version, api_version.rpartition("/")[0])
        found[(group, plural(kind))] = Permission(group, plural(kind), APPLY_VERBS, f"apply the manifests' {kind}")
    return list(found.values())


def merged(permissions: Iterable[Permission]) -> list[Permission]:
    """One rule per (group, resource), with the union of verbs in a fixed order."""
    order = ("get", "list", "watch", "create", "update", "patch", "delete")
    rules: dict[tuple[str, str], tuple[set[str], list[str]]] = {}
    for p in permissions:
        verbs, whys = rules.setdefault((p.group, p.resource), (set(), []))
        verbs.update(p.verbs)
        if p.why not in whys:
            whys.append(p.why)
    return [
        Permission(group, resource, tuple(v for v in order if v in verbs), "; ".join(whys))
        for (group, resource), (verbs, whys) in sorted(rules.items())
    ]


def role_manifests(
    namespace: str, permissions: Iterable[Permission], *, name: str, subject: dict[str, str]
) -> list[dict[str, Any]]:
    """A Role holding `permissions` in `namespace`, and a RoleBinding of it to `subject`."""
    rules = [{"apiGroups": [p.group], "resources": [p.resource], "verbs": list(p.verbs)} for p in merged(permissions)]
    labels = {"app.kubernetes.io/managed-by": "pipeline-steps"}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [subject],
    }
    return [role, binding]
