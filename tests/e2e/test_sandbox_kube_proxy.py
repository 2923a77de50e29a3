"""The real kube-proxy runs on this machine: pods in network namespaces, rules inside the sandbox's own.

A feasibility proof for the real data plane, ahead of it becoming a mode of the sandbox: a node
namespace with kube-proxy in it, a pod namespace with a server on its pod IP, and a Service (no
selector, its Endpoints written by the test) answering on its ClusterIP from inside a pod, on its
LoadBalancer address from the host, and through the apiserver's service proxy; then everything
the test added is gone again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.kube_proxy import KubeProxyDataPlane
from pipeline_steps_sandbox.launcher import Launcher
from pipeline_steps_sandbox.layout import SandboxState
from pipeline_steps_sandbox.netns import NetworkPlan, in_namespace, inventory

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root and iproute2"
)

#: Node and pod numbers of this test's namespaces, apart from the node agent's loopback pods.
NODE, POD_HOST, LB_INDEX = 200, 7, 200


def _host_tables() -> str:
    """The host's own packet-filter rules, which nothing here may change."""
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False).stdout
    legacy = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return nft + "\n".join(line for line in legacy.splitlines() if not line.startswith("#"))


@pytest.fixture
def data_plane(sandbox: Launcher, tmp_path: Path) -> Iterator[KubeProxyDataPlane]:
    state = SandboxState.load(sandbox.layout)
    assert state is not None
    plane = KubeProxyDataPlane(
        plan=NetworkPlan(state.network_octet),
        kubeconfig=sandbox.layout.kubeconfig,
        apiserver_port=state.ports["apiserver"],
        logs=tmp_path / "logs",
        sandbox_dir=sandbox.layout.root,
    )
    assert inventory(plane.plan).empty(), f"left over from before: {inventory(plane.plan)}"
    try:
        plane.start()
        plane.add_node(NODE, sorted(state.nodes)[0])
        yield plane
    finally:
        left = plane.stop()
        assert left.empty(), f"not removed: {left}"


def _serve_in_pod(plane: KubeProxyDataPlane, tmp_path: Path) -> tuple[str, str, subprocess.Popen[bytes]]:
    namespace, pod_ip = plane.plan.pod_namespace(NODE, POD_HOST), plane.plan.pod_ip(NODE, POD_HOST)
    from pipeline_steps_sandbox import netns  # noqa: PLC0415

    netns.add_pod(plane.plan, NODE, POD_HOST)
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text(f"pod {namespace}\n")
    server = [sys.executable, "-m", "http.server", "8080", "--bind", pod_ip, "--directory", str(root)]
    process = subprocess.Popen(in_namespace(namespace, server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return namespace, pod_ip, process


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as answer:
        return str(answer.read().decode())


def _eventually(check: object, what: str, timeout: float = 30.0) -> str:
    """The first answer of `check()` that does not raise; kube-proxy programs rules at its own pace."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(check())
        except (OSError, subprocess.CalledProcessError) as exc:
            if time.monotonic() > deadline:
                detail = getattr(exc, "stderr", None) or ""
                raise AssertionError(f"{what}: no answer within {timeout}s ({exc}) {detail}") from exc
            time.sleep(0.25)


def test_kube_proxy_serves_a_service_from_a_pod_namespace(
    cluster: Cluster, namespace: str, data_plane: KubeProxyDataPlane, tmp_path: Path
) -> None:
    host_tables_before = _host_tables()
    data_plane.wait_ready(NODE)
    pod_namespace, pod_ip, server = _serve_in_pod(data_plane, tmp_path)
    try:
        # A Pod object for the address, so the apiserver's service proxy accepts the endpoint as a pod.
        cluster.apply(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "netns-pod", "namespace": namespace},
                # Bound to no node of the agent's, so only the test speaks for its status.
                "spec": {"nodeName": "no-agent-node", "containers": [{"name": "app", "image": "demo/app:v1"}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            },
        )
        cluster.core.patch_namespaced_pod_status(
            "netns-pod", namespace, {"status": {"podIP": pod_ip, "podIPs": [{"ip": pod_ip}]}}
        )
        # The endpoint slice mirroring controller turns these Endpoints into the EndpointSlice kube-proxy reads.
        cluster.core.create_namespaced_endpoints(
            namespace,
            {
                "metadata": {"name": "web"},
                "subsets": [
                    {
                        "addresses": [
                            {
                                "ip": pod_ip,
                                # kube-proxy treats endpoints on its own node apart (hairpin masquerade).
                                "nodeName": data_plane_node(cluster),
                                "targetRef": {"kind": "Pod", "name": "netns-pod", "namespace": namespace},
                            }
                        ],
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    }
                ],
            },
        )
        cluster_ip = cluster.core.read_namespaced_service("web", namespace).spec.cluster_ip
        expected = f"pod {pod_namespace}\n"

        # ClusterIP, from inside a pod namespace (here the serving pod itself: hairpin through kube-proxy).
        curl = [
            "python3",
            "-c",
            f"import urllib.request;print(urllib.request.urlopen('http://{cluster_ip}/',timeout=3).read().decode(),end='')",
        ]
        in_pod = _eventually(
            lambda: (
                subprocess.run(in_namespace(pod_namespace, curl), capture_output=True, text=True, check=True).stdout
            ),
            "ClusterIP from the pod namespace",
        )
        assert in_pod == expected

        # A LoadBalancer address from the sandbox's own range, routed into its node namespace.
        _eventually(lambda: _published_ip(cluster, namespace) or _raise("not published yet"), "agent's address")
        lb_ip = data_plane.plan.load_balancer_ip(LB_INDEX)
        cluster.core.patch_namespaced_service_status(
            "web", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": lb_ip, "ipMode": "VIP"}]}}}
        )
        assert _eventually(lambda: _get(f"http://{lb_ip}/"), "LoadBalancer address from the host") == expected

        # The apiserver's service proxy, as a CI agent outside the cluster uses it.
        raw = [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "--raw"]
        path = f"/api/v1/namespaces/{namespace}/services/web:80/proxy/"
        through_apiserver = _eventually(
            lambda: subprocess.run([*raw, path], capture_output=True, text=True, check=True).stdout, "service proxy"
        )
        assert through_apiserver == expected

        # kube-proxy's rules are in the node namespace, and the host's tables are as they were.
        node_rules = subprocess.run(
            in_namespace(data_plane.plan.node_namespace(NODE), ["nft", "list", "table", "ip", "kube-proxy"]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert cluster_ip in node_rules and lb_ip in node_rules
        assert _host_tables() == host_tables_before
    finally:
        server.terminate()
        server.wait()


def test_the_sandbox_range_is_unreachable_from_the_host_while_it_runs(data_plane: KubeProxyDataPlane) -> None:
    found = inventory(data_plane.plan)
    assert f"unreachable {data_plane.plan.guard_cidr}" in found.routes
    # An address of the range routed nowhere is refused on the host, never sent out of the machine.
    nowhere = f"10.{data_plane.plan.net}.99.9"
    route = subprocess.run(["ip", "route", "get", nowhere], capture_output=True, text=True, check=False)
    assert route.returncode != 0 or "unreachable" in route.stdout, route.stdout


def data_plane_node(cluster: Cluster) -> str:
    """The Node whose name this test's kube-proxy runs under."""
    return sorted(str(node.metadata.name) for node in cluster.core.list_node().items)[0]


def _published_ip(cluster: Cluster, namespace: str) -> str | None:
    ingress = cluster.core.read_namespaced_service_status("web", namespace).status.load_balancer.ingress
    return ingress[0].ip if ingress else None


def _raise(message: str) -> str:
    raise OSError(message)
