"""The sandbox's address plan.

Kubernetes validation rejects loopback addresses in EndpointSlices, and traffic here may only go
to loopback. So a pod gets a virtual address 10.<net>.<node>.<n>, which is what the API sees, and
listens on the loopback twin 127.<net>.<node>.<n>, which is what carries traffic. Nothing ever
connects to the virtual address itself: the proxy translates before it connects.

LoadBalancer Services get 127.<net>.0.<k>. <net> is chosen per sandbox so two sandboxes on one
machine do not collide: each holds a listening socket on 127.<net>.255.254 for as long as it runs,
and a new sandbox takes only a <net> where nothing listens.
"""

from __future__ import annotations

import ipaddress

VIRTUAL_FIRST_OCTET = 10
LOOPBACK_FIRST_OCTET = 127
#: Range the per-sandbox second octet is drawn from; clear of 10.96/12, where clusters usually put Services.
NETWORK_OCTETS = range(200, 250)


def pod_virtual_ip(net: int, node_index: int, host: int) -> str:
    return f"{VIRTUAL_FIRST_OCTET}.{net}.{node_index}.{host}"


def to_loopback(virtual_ip: str) -> str:
    """The loopback address that stands in for a pod's virtual address."""
    address = ipaddress.IPv4Address(virtual_ip)
    octets = address.packed
    if octets[0] != VIRTUAL_FIRST_OCTET:
        raise ValueError(f"{virtual_ip} is not a sandbox pod address (10.x.y.z)")
    return f"{LOOPBACK_FIRST_OCTET}.{octets[1]}.{octets[2]}.{octets[3]}"


def load_balancer_ip(net: int, index: int) -> str:
    if not 1 <= index <= 254:
        raise ValueError("the sandbox has room for 254 LoadBalancer Services")
    return f"{LOOPBACK_FIRST_OCTET}.{net}.0.{index}"


def network_claim_ip(net: int) -> str:
    """Where a sandbox listens for its whole life to mark <net> as taken, pods or not."""
    return f"{LOOPBACK_FIRST_OCTET}.{net}.255.254"


def node_ip(net: int, node_index: int) -> str:
    """A Node's InternalIP: the first address of its pod CIDR, which its network namespace holds (pods
    start at .2). Inside the sandbox's guarded range, so a NodePort reached from the host never leaves
    the machine."""
    return f"{VIRTUAL_FIRST_OCTET}.{net}.{node_index}.1"


def pod_cidr(net: int, node_index: int) -> str:
    return f"{VIRTUAL_FIRST_OCTET}.{net}.{node_index}.0/24"


def service_cidr(net: int) -> str:
    """ClusterIPs: inside the sandbox's own 10.<net>.0.0/16, so its guard route covers them too and two
    sandboxes never hand out the same ClusterIP; clear of the pod CIDRs (nodes take 10.<net>.1-127)."""
    return f"{VIRTUAL_FIRST_OCTET}.{net}.128.0/18"


def kubernetes_service_ip(net: int) -> str:
    """The `kubernetes` Service's ClusterIP: the first address of the Service range."""
    return f"{VIRTUAL_FIRST_OCTET}.{net}.128.1"
