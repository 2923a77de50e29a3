"""Pods in network namespaces, for the node agent in the kube-proxy data plane.

Where the Python data plane gives a pod a virtual address and a loopback twin to listen on, here the
pod's address is real: the pod's processes run in a namespace of their own (netns.add_pod) holding
that address, reached from the host (the agent's probes, the apiserver's service proxy) through the
routes into the node namespaces, and from other pods through kube-proxy's rules.
"""

from __future__ import annotations

import ipaddress
import threading

from pipeline_steps_sandbox import netns
from pipeline_steps_sandbox.netns import NetworkPlan


class PodNetworks:
    """Makes and removes the pod namespaces of one sandbox, keyed by the pod's address."""

    def __init__(self, plan: NetworkPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._made: set[str] = set()

    def listen_host(self, pod_ip: str) -> str:
        """Where the pod's processes listen, and where probes and hooks reach them: its own address."""
        return pod_ip

    def wrap(self, pod_ip: str, argv: list[str]) -> list[str]:
        """The command that runs `argv` inside the pod's namespace, made on first use."""
        node, host = self._numbers(pod_ip)
        with self._lock:
            if pod_ip not in self._made:
                netns.add_pod(self.plan, node, host)
                self._made.add(pod_ip)
        return netns.in_namespace(self.plan.pod_namespace(node, host), argv)

    def remove(self, pod_ip: str) -> None:
        """Once the pod is gone: its namespace, veth and route with it."""
        with self._lock:
            if pod_ip not in self._made:
                return
            self._made.discard(pod_ip)
        netns.remove_pod(self.plan, *self._numbers(pod_ip))

    def _numbers(self, pod_ip: str) -> tuple[int, int]:
        octets = ipaddress.IPv4Address(pod_ip).packed
        if octets[0] != 10 or octets[1] != self.plan.net:
            raise ValueError(f"{pod_ip} is not in this sandbox's range {self.plan.guard_cidr}")
        return octets[2], octets[3]
