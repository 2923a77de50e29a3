"""Network namespaces for the sandbox's real data plane: a node namespace per Node, a pod namespace per pod.

What a CNI's point-to-point plugin gives a node, built with `ip`: each pod namespace hangs off its
node's namespace on a veth pair, with its own address from the node's pod CIDR and routes both ways;
no bridge, so kube-proxy's rules see every packet without br_netfilter. The node namespaces hang
off one router namespace per sandbox, the only one linked to the host, which forwards between
nodes; every namespace forwards with its own `ip_forward`, the host's is never changed. The node
namespace is where kube-proxy writes its rules, so nothing is ever written to the host's tables.

The address plan lives in the sandbox's own 10.<net>.0.0/16 (<net> is claimed per sandbox, see
addresses.py): node <i>'s pods take 10.<net>.<i>.0/24 (gateway .1), LoadBalancer addresses
10.<net>.0.0/24; the router and node ends of node <i>'s veth are 10.<net>.254.<i> and
10.<net>.255.<i>, the host and router ends of the host's veth 10.<net>.254.254 and 10.<net>.255.254.
Before anything else the host gets an `unreachable` route for the whole /16, so that a half-built
or half-removed sandbox can never send those addresses out of the machine; the more specific routes
into the router win over it while they exist.

Every name starts with `psd<net>` (namespaces `psd<net>-...`, the host link `psd<net>r`) so that
`inventory` finds exactly what this sandbox added and `teardown` removes exactly that.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from pipeline_steps_sandbox.launcher import SandboxError

NAME_PREFIX = "psd"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
#: Pod hosts on a node: .1 is the node's gateway address.
POD_HOSTS = range(2, 255)


@dataclass(frozen=True)
class NetworkPlan:
    """The names and addresses of one sandbox's namespaces, all derived from its network octet."""

    net: int

    @property
    def prefix(self) -> str:
        return f"{NAME_PREFIX}{self.net}"

    @property
    def guard_cidr(self) -> str:
        return f"10.{self.net}.0.0/16"

    @property
    def cluster_cidr(self) -> str:
        return f"10.{self.net}.0.0/16"

    @property
    def load_balancer_cidr(self) -> str:
        return f"10.{self.net}.0.0/24"

    def load_balancer_ip(self, index: int) -> str:
        if not 1 <= index <= 254:
            raise SandboxError("the sandbox has room for 254 LoadBalancer addresses")
        return f"10.{self.net}.0.{index}"

    def node_namespace(self, node: int) -> str:
        return f"{self.prefix}-node{node}"

    @property
    def router_namespace(self) -> str:
        return f"{self.prefix}-router"

    @property
    def host_link(self) -> str:
        """The host end of the veth into the router namespace."""
        return f"{self.prefix}r"

    @property
    def host_ip(self) -> str:
        return f"10.{self.net}.254.254"

    @property
    def router_host_side_ip(self) -> str:
        return f"10.{self.net}.255.254"

    @property
    def client_namespace(self) -> str:
        """A machine outside the cluster, for load clients: see add_client."""
        return f"{self.prefix}-client"

    @property
    def client_link(self) -> str:
        return f"{self.prefix}c"

    @property
    def client_ip(self) -> str:
        return f"10.{self.net}.253.1"

    @property
    def router_client_side_ip(self) -> str:
        return f"10.{self.net}.253.254"

    def router_link(self, node: int) -> str:
        """The router end of the veth into node <node>'s namespace."""
        return f"{self.prefix}n{node}"

    def router_side_ip(self, node: int) -> str:
        return f"10.{self.net}.254.{node}"

    def node_side_ip(self, node: int) -> str:
        return f"10.{self.net}.255.{node}"

    def node_gateway(self, node: int) -> str:
        return f"10.{self.net}.{node}.1"

    def pod_cidr(self, node: int) -> str:
        return f"10.{self.net}.{node}.0/24"

    def pod_namespace(self, node: int, host: int) -> str:
        return f"{self.prefix}-n{node}p{host}"

    def pod_link(self, node: int, host: int) -> str:
        """The node end of a pod's veth (the pod end is always eth0)."""
        return f"{self.prefix}n{node}p{host}"

    def pod_ip(self, node: int, host: int) -> str:
        if host not in POD_HOSTS:
            raise SandboxError(f"pod host number {host} is outside {POD_HOSTS.start}-{POD_HOSTS.stop - 1}")
        return f"10.{self.net}.{node}.{host}"


def ip(*args: str) -> str:
    """Run `ip` and return its output; a failure names the command and what `ip` said."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SandboxError(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def in_namespace(namespace: str, argv: list[str]) -> list[str]:
    """The command line that runs `argv` inside a namespace."""
    return ["ip", "netns", "exec", namespace, *argv]


def add_guard(plan: NetworkPlan) -> None:
    """First thing, always: the sandbox's whole range is unreachable from the host unless routed in."""
    ip("route", "replace", "unreachable", plan.guard_cidr)


def add_router(plan: NetworkPlan) -> str:
    """The sandbox's router namespace, the only one linked to the host.

    Node namespaces hang off it, not off the host: traffic between nodes (a pod reaching an endpoint
    on another node) is forwarded there, so the host's own `ip_forward` stays as it is. The router
    has no default route, so nothing it forwards can leave for anywhere but the sandbox and the host.
    """
    namespace, link = plan.router_namespace, plan.host_link
    ip("netns", "add", namespace)
    ip("link", "add", link, "type", "veth", "peer", "name", "host0", "netns", namespace)
    ip("addr", "add", plan.host_ip, "peer", plan.router_host_side_ip, "dev", link)
    ip("link", "set", link, "up")
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "addr", "add", plan.router_host_side_ip, "peer", plan.host_ip, "dev", "host0")
    ip("-n", namespace, "link", "set", "host0", "up")
    _sysctl(namespace, "net.ipv4.ip_forward", "1")
    # The LoadBalancer range goes in through the router; it sends it on to the first node added
    # (kube-proxy on every node programs every LoadBalancer address, so one entry point is enough).
    ip("route", "replace", plan.load_balancer_cidr, "via", plan.router_host_side_ip, "dev", link)
    add_client(plan)
    return namespace


def add_client(plan: NetworkPlan) -> str:
    """A client machine outside the cluster, hanging off the router: where load clients send from.

    A client sending hundreds of new connections a second from one address to one Service address
    runs out of source ports on the host: each closed connection holds its port for a minute
    (TIME_WAIT), and the host reuses such ports early only on loopback (`tcp_tw_reuse=2`). That is a
    limit of the client, not of the cluster, so the sandbox gives load clients a namespace of their
    own with `tcp_tw_reuse=1` and the whole port range, instead of changing the host's settings.
    """
    router, namespace, link = plan.router_namespace, plan.client_namespace, plan.client_link
    ip("netns", "add", namespace)
    ip("-n", router, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    ip("-n", router, "addr", "add", plan.router_client_side_ip, "peer", plan.client_ip, "dev", link)
    ip("-n", router, "link", "set", link, "up")
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "addr", "add", plan.client_ip, "peer", plan.router_client_side_ip, "dev", "eth0")
    ip("-n", namespace, "link", "set", "eth0", "up")
    ip("-n", namespace, "route", "add", "default", "via", plan.router_client_side_ip, "dev", "eth0")
    _sysctl(namespace, "net.ipv4.tcp_tw_reuse", "1")
    _sysctl(namespace, "net.ipv4.ip_local_port_range", "1024 65535")
    return namespace


def client_namespace_for(address: str) -> str | None:
    """The client namespace of the sandbox whose range holds `address` (10.<net>.x.y), if it has one."""
    parts = address.split(".")
    if len(parts) != 4 or parts[0] != "10" or not parts[1].isdigit():
        return None
    namespace = NetworkPlan(int(parts[1])).client_namespace
    return namespace if os.path.exists(f"/run/netns/{namespace}") else None


def enter(namespace: str) -> None:
    """Move the calling thread (only it) into a network namespace: the sockets it makes live there."""
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {namespace}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def add_node(plan: NetworkPlan, node: int) -> str:
    """A node namespace, linked to the router; its pod CIDR routed into it from the host and the router."""
    if plan.router_namespace not in ip("netns", "list"):
        add_router(plan)
    router, namespace, link = plan.router_namespace, plan.node_namespace(node), plan.router_link(node)
    router_ip, node_ip = plan.router_side_ip(node), plan.node_side_ip(node)
    ip("netns", "add", namespace)
    ip("-n", router, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    ip("-n", router, "addr", "add", router_ip, "peer", node_ip, "dev", link)
    ip("-n", router, "link", "set", link, "up")
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "addr", "add", node_ip, "peer", router_ip, "dev", "eth0")
    ip("-n", namespace, "link", "set", "eth0", "up")
    # Everything not on this node goes to the router: other nodes' pods, the host.
    ip("-n", namespace, "route", "add", "default", "via", router_ip, "dev", "eth0")
    # The gateway address pods route through; on lo, so every pod veth answers ARP for it.
    ip("-n", namespace, "addr", "add", f"{plan.node_gateway(node)}/32", "dev", "lo")
    _sysctl(namespace, "net.ipv4.ip_forward", "1")
    ip("-n", router, "route", "replace", plan.pod_cidr(node), "via", node_ip, "dev", link)
    if "via" not in ip("-n", router, "route", "show", plan.load_balancer_cidr):
        ip("-n", router, "route", "replace", plan.load_balancer_cidr, "via", node_ip, "dev", link)
    ip("route", "replace", plan.pod_cidr(node), "via", plan.router_host_side_ip, "dev", plan.host_link)
    return namespace


def add_pod(plan: NetworkPlan, node: int, host: int) -> tuple[str, str]:
    """A pod namespace on a node, with its address; returns (namespace, pod IP)."""
    namespace, link, pod_ip = plan.pod_namespace(node, host), plan.pod_link(node, host), plan.pod_ip(node, host)
    node_namespace, gateway = plan.node_namespace(node), plan.node_gateway(node)
    ip("netns", "add", namespace)
    ip("link", "add", link, "netns", node_namespace, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    # The gateway address on the node end too: masquerading a pod's hairpin connection (to a Service
    # it backs itself) takes its source address from the interface the packet leaves by.
    ip("-n", node_namespace, "addr", "add", f"{gateway}/32", "dev", link)
    ip("-n", node_namespace, "link", "set", link, "up")
    ip("-n", node_namespace, "route", "add", f"{pod_ip}/32", "dev", link, "src", gateway)
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("-n", namespace, "addr", "add", f"{pod_ip}/32", "dev", "eth0")
    ip("-n", namespace, "link", "set", "eth0", "up")
    ip("-n", namespace, "route", "add", f"{gateway}/32", "dev", "eth0", "scope", "link")
    ip("-n", namespace, "route", "add", "default", "via", gateway, "dev", "eth0", "src", pod_ip)
    return namespace, pod_ip


def remove_pod(plan: NetworkPlan, node: int, host: int) -> None:
    namespace = plan.pod_namespace(node, host)
    _stop_processes(namespace)
    # Deleting the namespace takes its eth0, and with it the node end and the node's route to the pod.
    ip("netns", "delete", namespace)


@dataclass
class Inventory:
    """What of the sandbox's network is present on the machine, as `ip` lists it."""

    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.namespaces or self.links or self.routes)


def inventory(plan: NetworkPlan) -> Inventory:
    """Every namespace, host link and host route of this sandbox's network."""
    namespaces = [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]
    links = [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", "show").splitlines()]
    range_start = f"10.{plan.net}."
    routes = [line.strip() for line in ip("route", "show").splitlines() if range_start in line]
    return Inventory(
        namespaces=sorted(n for n in namespaces if n.startswith(f"{plan.prefix}-")),
        links=sorted(n for n in links if n.startswith(plan.prefix)),
        routes=sorted(routes),
    )


def teardown(plan: NetworkPlan, timeout: float = 10.0) -> Inventory:
    """Remove everything `inventory` finds, the guard route last; returns what was left (empty if all went)."""
    found = inventory(plan)
    for namespace in found.namespaces:
        _stop_processes(namespace)
    # Pods first, then nodes, the router last: each holds the far ends of the veths of the one before.
    for namespace in sorted(found.namespaces, key=lambda n: (n.endswith("-router"), "-node" in n)):
        ip("netns", "delete", namespace)
    for link in found.links:
        # Gone already when its namespace went first; that is what we want either way.
        subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)
    # Namespaces go away asynchronously once their last process has; their links and routes with them.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = inventory(plan)
        if not left.links and not left.namespaces and _only_guard(left, plan):
            break
        time.sleep(0.1)
    for route in inventory(plan).routes:
        ip("route", "delete", *route.split())
    return inventory(plan)


def _only_guard(found: Inventory, plan: NetworkPlan) -> bool:
    return all(route.startswith(f"unreachable {plan.guard_cidr}") for route in found.routes)


def _sysctl(namespace: str, key: str, value: str) -> None:
    """A per-namespace sysctl; `/proc/sys/net` shows the namespace of the process that writes it."""
    result = subprocess.run(
        in_namespace(namespace, ["sysctl", "-qw", f"{key}={value}"]), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SandboxError(f"could not set {key}={value} in {namespace}: {result.stderr.decode().strip()}")


def _stop_processes(namespace: str, grace: float = 3.0) -> None:
    """SIGTERM every process in a namespace, SIGKILL what is left after the grace period."""

    def pids() -> list[int]:
        result = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
        return [int(p) for p in result.stdout.split()]

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        running = pids()
        if not running:
            return
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids() and time.monotonic() < deadline:
            time.sleep(0.05)
