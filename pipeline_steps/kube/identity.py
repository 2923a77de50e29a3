"""Who the credentials are, as the API server authenticates them (SelfSubjectReview), and whether they may act
as someone else (a SelfSubjectAccessReview of `impersonate`): an approval records the person the cluster knows,
not a name typed on a command line."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline_steps.errors import ClusterError, ConfigError
from pipeline_steps.kube.cluster import REQUEST_TIMEOUT, KubeCluster
from pipeline_steps.kube.errors import call


@dataclasses.dataclass(frozen=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()


def authenticated(cluster: KubeCluster) -> Identity | None:
    """The user the API server authenticates these credentials as; None on a cluster that does not serve
    SelfSubjectReview (before Kubernetes 1.28) or does not allow it."""
    try:
        resource = cluster.resource("authentication.k8s.io/v1", "SelfSubjectReview")
    except ConfigError:
        return None
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = call(
            "ask the API server who these credentials are (SelfSubjectReview)",
            lambda: resource.create(body=body, _request_timeout=REQUEST_TIMEOUT),
        )
    except ClusterError as exc:
        if exc.status in (403, 404):
            return None
        raise
    user: dict[str, Any] = ((review.to_dict().get("status") or {}).get("userInfo")) or {}
    if not user.get("username"):
        return None
    return Identity(str(user["username"]), tuple(str(g) for g in user.get("groups") or ()))


def may_impersonate(cluster: KubeCluster, username: str) -> bool:
    """Whether these credentials may act as `username` (as `kubectl --as` would)."""
    resource = cluster.resource("authorization.k8s.io/v1", "SelfSubjectAccessReview")
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "impersonate", "resource": "users", "name": username}},
    }
    review = call(
        f"ask whether these credentials may act as {username}",
        lambda: resource.create(body=body, _request_timeout=REQUEST_TIMEOUT),
    )
    return bool(((review.to_dict().get("status")) or {}).get("allowed"))
