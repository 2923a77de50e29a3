"""What a user sees after a workflow run: the public Service's selector, the release lock, the outputs a step
printed."""

from __future__ import annotations

from pipeline_steps_sandbox.cluster import Cluster

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
LEASE = "pipeline-steps-web"  #: the test app's release lock (pipeline_steps.release_lock.lease_name)


def selector(cluster: Cluster, namespace: str) -> dict[str, str]:
    """What the public Service selects."""
    return dict(cluster.core.read_namespaced_service("web", namespace).spec.selector)


def lease_holders(cluster: Cluster, namespace: str) -> dict[str, str | None]:
    leases = cluster.coordination.list_namespaced_lease(namespace).items
    return {lease.metadata.name: lease.spec.holder_identity for lease in leases}


def seen(log: str) -> dict[str, str]:
    """The `SEEN_NAME=value` lines a workflow's last step prints: the outputs it read through expressions."""
    values: dict[str, str] = {}
    for line in log.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("SEEN_"):
            values[name.removeprefix("SEEN_")] = value
    return values
