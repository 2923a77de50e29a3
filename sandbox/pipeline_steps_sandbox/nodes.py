"""Registers the sandbox's Nodes and keeps them alive, as a kubelet does.

The node lifecycle controller marks a Node NotReady (and taints it) when its Lease in
`kube-node-lease` goes stale, so the Leases are renewed every few seconds; the Ready condition's
heartbeat is refreshed less often, as a kubelet with leases does.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.addresses import node_ip, pod_cidr

#: The port a kubelet serves its API on; the agent's port-forward server listens there in each node namespace.
KUBELET_PORT = 10250

log = logging.getLogger(__name__)

LEASE_SECONDS = 40
RENEW_EVERY = 10.0
STATUS_EVERY = 60.0
SANDBOX_NODE_LABEL = "pipeline-steps.dev/sandbox-node"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now_seconds() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_manifest(name: str, index: int, net: int, kube_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                SANDBOX_NODE_LABEL: "true",
            },
        },
        "spec": {"podCIDR": pod_cidr(net, index), "podCIDRs": [pod_cidr(net, index)]},
    }


def node_status(index: int, net: int, kube_version: str) -> dict[str, Any]:
    now = _now_seconds()
    capacity = {"cpu": "16", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("Ready", "True", "KubeletReady", "sandbox node agent is posting ready status"),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
        ],
        # kube-proxy serves NodePorts on this address (its node namespace holds it).
        "addresses": [{"type": "InternalIP", "address": node_ip(net, index)}],
        # Where the apiserver reaches the agent's kubelet API (pods/portforward), in the node's namespace.
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": f"sandbox-{index}",
            "systemUUID": f"sandbox-{index}",
            "bootID": f"sandbox-{index}",
            "kernelVersion": "",
            "osImage": "pipeline-steps sandbox",
            "containerRuntimeVersion": "sandbox://1",
            "kubeletVersion": f"v{kube_version}",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


class NodeKeeper:
    """Owns the sandbox's Node objects and their Leases."""

    def __init__(
        self, api: client.ApiClient, names: list[str], net: int, kube_version: str, stop: threading.Event
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.names = names
        self.net = net
        self.kube_version = kube_version
        self.stop = stop

    def register(self) -> None:
        for index, name in enumerate(self.names, start=1):
            try:
                self.core.create_node(node_manifest(name, index, self.net, self.kube_version))
            except ApiException as exc:
                if exc.status != 409:
                    raise
            self._post_status(index, name)
            self._renew_lease(name)

    def _post_status(self, index: int, name: str) -> None:
        self.core.patch_node_status(name, {"status": node_status(index, self.net, self.kube_version)})

    def _renew_lease(self, name: str) -> None:
        body = {
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": _now()},
        }
        try:
            self.coordination.patch_namespaced_lease(name, "kube-node-lease", body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease("kube-node-lease", body)

    def run(self) -> None:
        """Renew until stopped. Failures are logged and retried: an apiserver hiccup is no reason
        to let nodes go NotReady."""
        since_status = 0.0
        while not self.stop.wait(RENEW_EVERY):
            since_status += RENEW_EVERY
            for index, name in enumerate(self.names, start=1):
                try:
                    self._renew_lease(name)
                    if since_status >= STATUS_EVERY:
                        self._post_status(index, name)
                except Exception:
                    log.warning("node %s: heartbeat failed", name, exc_info=True)
            if since_status >= STATUS_EVERY:
                since_status = 0.0

    def deregister(self) -> None:
        for name in self.names:
            try:
                self.core.delete_node(name)
            except Exception:
                log.info("node %s: not deleted", name, exc_info=True)
