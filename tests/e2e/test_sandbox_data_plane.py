"""`pipeline-steps-sandbox up --data-plane kube-proxy`: pods in network namespaces, Services by kube-proxy.

A sandbox of its own for this module (two nodes), so that what it adds to the machine can be listed
before it starts and after it is down.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import Launcher
from pipeline_steps_sandbox.layout import SandboxState
from pipeline_steps_sandbox.netns import NetworkPlan, in_namespace, inventory
from tests.support import app
from tests.support.traffic import Load, recovered_after_failures

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root and iproute2"
)

WEB = {"app": "web"}


def _host_tables() -> str:
    """The host's own packet-filter rules, which nothing here may change."""
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False).stdout
    legacy = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return nft + "\n".join(line for line in legacy.splitlines() if not line.startswith("#"))


class RealPlane:
    def __init__(self, launcher: Launcher, cluster: Cluster, plan: NetworkPlan) -> None:
        self.launcher, self.cluster, self.plan = launcher, cluster, plan


@pytest.fixture(scope="module")
def real_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPlane]:
    launcher = Launcher(tmp_path_factory.mktemp("kube-proxy-sandbox"))
    tables_before = _host_tables()
    state = launcher.up(nodes=2, data_plane="kube-proxy")
    plan = NetworkPlan(state.network_octet)
    try:
        kubectl = str(Path(state.bin_dir) / "kubectl")
        yield RealPlane(launcher, Cluster.connect(launcher.layout.kubeconfig, launcher, kubectl), plan)
    finally:
        launcher.down()
    left = inventory(plan)
    assert left.empty(), f"`down` left behind: {left}"
    assert _host_tables() == tables_before, "the host's own rules changed"


@pytest.fixture
def web(real_plane: RealPlane) -> Iterator[str]:
    cluster = real_plane.cluster
    namespace = cluster.create_namespace("t-kube-proxy-web")
    try:
        cluster.apply(namespace, app.deployment("web", "demo/app:v1", WEB), app.service("web", WEB))
        cluster.wait_deployment_available(namespace, "web")
        yield namespace
    finally:
        cluster.delete_namespace(namespace)


def _answer(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=3) as response:
        return dict(json.load(response))


def test_the_guard_route_and_namespaces_are_the_sandboxs_own(real_plane: RealPlane) -> None:
    found = inventory(real_plane.plan)
    assert f"unreachable {real_plane.plan.guard_cidr}" in found.routes
    assert {
        real_plane.plan.router_namespace,
        real_plane.plan.node_namespace(1),
        real_plane.plan.node_namespace(2),
    } <= set(found.namespaces)
    # The host's only link into the sandbox is its router's veth.
    assert found.links == [real_plane.plan.host_link]


def test_the_sandbox_range_never_leaves_the_machine(real_plane: RealPlane) -> None:
    """Addresses of the range that nothing routes into (a ClusterIP, an unused one) are refused on the host."""
    services = real_plane.cluster.core.list_namespaced_service("default").items
    cluster_ip = next(str(s.spec.cluster_ip) for s in services if s.metadata.name == "kubernetes")
    nowhere = f"10.{real_plane.plan.net}.99.9"
    assert cluster_ip.startswith(f"10.{real_plane.plan.net}."), f"ClusterIP {cluster_ip} outside the sandbox's range"
    for address in (cluster_ip, nowhere):
        route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True, check=False)
        assert route.returncode != 0 or route.stdout.startswith("unreachable"), f"{address}: {route.stdout}"


def test_pods_serve_a_load_balancer_address_through_kube_proxy(real_plane: RealPlane, web: str) -> None:
    cluster = real_plane.cluster
    url = cluster.service_url(web, "web")
    assert url.startswith(f"http://10.{real_plane.plan.net}.0."), url

    # All three endpoints ready is not yet all three in kube-proxy's rules: wait for its sync.
    deadline = time.monotonic() + 30
    while len({_answer(url + "/")["pod_ip"] for _ in range(15)}) < 3:
        assert time.monotonic() < deadline, "kube-proxy never sent to all three pods"
    answers = [_answer(url + "/") for _ in range(30)]
    pod_ips = {answer["pod_ip"] for answer in answers}
    # Each pod answers from its own address in its node's pod CIDR, and both nodes' pods take traffic.
    assert {ip.rsplit(".", 1)[0] for ip in pod_ips} == {f"10.{real_plane.plan.net}.1", f"10.{real_plane.plan.net}.2"}
    running = {pod.status.pod_ip for pod in cluster.pods(web, "app=web")}
    assert pod_ips <= running


def test_the_apiserver_service_proxy_reaches_a_pod(real_plane: RealPlane, web: str) -> None:
    cluster = real_plane.cluster
    path = f"/api/v1/namespaces/{web}/services/web:80/proxy/"
    raw = subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "--raw", path],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(raw.stdout)
    assert answer["pod_ip"] in {pod.status.pod_ip for pod in cluster.pods(web, "app=web")}


def test_a_node_port_answers_on_every_nodes_address_from_the_host(real_plane: RealPlane, web: str) -> None:
    cluster = real_plane.cluster
    node_port = cluster.core.read_namespaced_service("web", web).spec.ports[0].node_port
    nodes = {n.metadata.name: n.status.addresses[0].address for n in cluster.core.list_node().items}
    assert all(address.startswith(f"10.{real_plane.plan.net}.") for address in nodes.values()), nodes

    for name, address in sorted(nodes.items()):
        url = f"http://{address}:{node_port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = _answer(url)
                break
            except OSError as exc:
                assert time.monotonic() < deadline, f"NodePort of {name} at {url}: {exc}"
                time.sleep(0.5)
        # externalTrafficPolicy Cluster: any node's port reaches the Service's pods, wherever they run.
        assert answer["pod_ip"] in {pod.status.pod_ip for pod in cluster.pods(web, "app=web")}


def test_a_pod_reaches_a_cluster_ip_on_another_node(real_plane: RealPlane, web: str) -> None:
    cluster, plan = real_plane.cluster, real_plane.plan
    cluster_ip = cluster.core.read_namespaced_service("web", web).spec.cluster_ip
    pods = cluster.pods(web, "app=web")
    client_ip = pods[0].status.pod_ip
    node, host = (int(part) for part in client_ip.split(".")[2:])
    fetch = f"import urllib.request;print(urllib.request.urlopen('http://{cluster_ip}/',timeout=3).read().decode())"

    def ask() -> subprocess.CompletedProcess[str]:
        command = in_namespace(plan.pod_namespace(node, host), ["python3", "-c", fetch])
        return subprocess.run(command, capture_output=True, text=True, check=False)

    # A new Service is refused until kube-proxy has synced its rules (its own pace, as on any cluster).
    deadline = time.monotonic() + 30
    while (first := ask()).returncode != 0:
        assert time.monotonic() < deadline, first.stderr
        time.sleep(0.5)
    seen = set()
    for _ in range(30):
        result = ask()
        assert result.returncode == 0, result.stderr
        seen.add(json.loads(result.stdout)["node"])
    # kube-proxy spreads new connections over all endpoints, on this node and the other one.
    assert seen == {"sandbox-node-1", "sandbox-node-2"}


def test_a_pods_namespace_goes_with_the_pod(real_plane: RealPlane, web: str) -> None:
    cluster, plan = real_plane.cluster, real_plane.plan
    cluster.apps.patch_namespaced_deployment_scale("web", web, {"spec": {"replicas": 1}})
    deadline = time.monotonic() + 60
    while True:
        pods = [p for p in cluster.pods(web, "app=web") if p.metadata.deletion_timestamp is None]
        pod_namespaces = [n for n in inventory(plan).namespaces if re.fullmatch(rf"{plan.prefix}-n\d+p\d+", n)]
        if len(cluster.pods(web, "app=web")) == 1 and len(pod_namespaces) == 1:
            break
        assert time.monotonic() < deadline, f"pods {len(pods)}, pod namespaces {pod_namespaces}"
        time.sleep(0.5)
    ip = pods[0].status.pod_ip
    node, host = (int(part) for part in ip.split(".")[2:])
    assert pod_namespaces == [plan.pod_namespace(node, host)]


def test_status_records_the_data_plane(real_plane: RealPlane) -> None:
    state = SandboxState.load(real_plane.launcher.layout)
    assert state is not None and state.data_plane == "kube-proxy"


def _role_over(connection: http.client.HTTPConnection) -> str:
    connection.request("GET", "/")
    response = connection.getresponse()
    return str(json.loads(response.read())["role"])


def test_a_kept_alive_connection_stays_on_the_old_role_after_a_switch(real_plane: RealPlane) -> None:
    """Conntrack pinning: kube-proxy's rules choose a backend for new connections only."""
    cluster = real_plane.cluster
    namespace = cluster.create_namespace("t-kube-proxy-switch")
    try:
        cluster.apply(
            namespace,
            app.deployment("web-blue", "demo/app:v1", {**WEB, "role": "blue"}, replicas=2),
            app.deployment("web-green", "demo/app:v2", {**WEB, "role": "green"}, replicas=2),
            app.service("web", {**WEB, "role": "blue"}),
        )
        for name in ("web-blue", "web-green"):
            cluster.wait_deployment_available(namespace, name)
        host, port = cluster.service_url(namespace, "web").removeprefix("http://").split(":")
        kept = http.client.HTTPConnection(host, int(port), timeout=5)
        assert _role_over(kept) == "blue"
        opened = kept.sock.getsockname()

        cluster.core.patch_namespaced_service("web", namespace, {"spec": {"selector": {**WEB, "role": "green"}}})
        deadline = time.monotonic() + 30
        while _role_over(http.client.HTTPConnection(host, int(port), timeout=5)) != "green":
            assert time.monotonic() < deadline, "new connections never reached green"
            time.sleep(0.2)

        # After the switch: the old connection still reaches blue, a new one reaches green.
        assert [_role_over(kept) for _ in range(5)] == ["blue"] * 5
        assert kept.sock.getsockname() == opened, "the kept connection was reopened: nothing was pinned"
        fresh = [_role_over(http.client.HTTPConnection(host, int(port), timeout=5)) for _ in range(5)]
        assert fresh == ["green"] * 5
        kept.close()
    finally:
        cluster.delete_namespace(namespace)


def _delete_one_pod_under_load(cluster: Cluster, namespace: str, url: str) -> Load:
    victim = cluster.pods(namespace, "app=web")[0].metadata.name
    with Load(url, workers=4) as load:
        # kube-proxy follows a newly ready pod a moment after the Deployment reports it available:
        # delete the victim only once it carries its share, or the race has nothing to race with.
        deadline = time.monotonic() + 15
        while sum(1 for a in list(load.answers) if a.pod == victim) < 20:
            assert time.monotonic() < deadline, f"the victim pod never took traffic: {load.summary()}"
            time.sleep(0.1)
        cluster.core.delete_namespaced_pod(victim, namespace)
        deadline = time.monotonic() + 60
        while True:
            pods = cluster.pods(namespace, "app=web")
            if len(pods) == 3 and all(p.metadata.deletion_timestamp is None for p in pods):
                break
            assert time.monotonic() < deadline, "the Deployment never settled at three pods"
            time.sleep(0.2)
        time.sleep(5)  # and kube-proxy after it (seconds on a busy machine): the load ends on a settled data plane
    return load


@pytest.mark.parametrize("prestop", [None, 3], ids=["without-prestop", "with-prestop"])
def test_the_deletion_race_goes_through_kube_proxy(real_plane: RealPlane, prestop: int | None) -> None:
    cluster = real_plane.cluster
    namespace = cluster.create_namespace(f"t-kube-proxy-race-{'prestop' if prestop else 'none'}")
    try:
        deployment = app.deployment(
            "web", "demo/app:v1", WEB, env={"SANDBOX_ON_SIGTERM": "exit"}, prestop_seconds=prestop, grace_seconds=10
        )
        cluster.apply(namespace, deployment, app.service("web", WEB))
        cluster.wait_deployment_available(namespace, "web")
        url = cluster.service_url(namespace, "web")

        load = _delete_one_pod_under_load(cluster, namespace, url)

        if prestop is None:
            # SIGTERM comes before kube-proxy has taken the endpoint out of its rules.
            assert load.failures, f"no request failed: the race was hidden ({load.summary()})"
            # Only the race loses requests: once the data plane has let go of the pod, every request is answered.
            assert recovered_after_failures(load), load.summary()
        else:
            assert load.failures == [], load.summary()
    finally:
        cluster.delete_namespace(namespace)


def _nft_rules(namespace: str) -> str:
    command = in_namespace(namespace, ["nft", "list", "table", "ip", "kube-proxy"])
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_two_sandboxes_run_side_by_side(real_plane: RealPlane, tmp_path: Path) -> None:
    first, plan = real_plane.cluster, real_plane.plan
    first_ns = first.create_namespace("t-kube-proxy-first")
    try:
        first.apply(first_ns, app.deployment("web", "demo/app:v1", WEB, replicas=1), app.service("web", WEB))
        first.wait_deployment_available(first_ns, "web")
        first_url = first.service_url(first_ns, "web")
        second = Launcher(tmp_path / "second")
        other = NetworkPlan(second.up(nodes=1, data_plane="kube-proxy").network_octet)
        try:
            _check_second_sandbox(second, other, plan, first_url)
        finally:
            second.down()
        assert inventory(other).empty(), f"the second sandbox left behind: {inventory(other)}"
        # The first one is untouched by the second one's going.
        assert _answer(first_url)["image"] == "demo/app:v1"
    finally:
        first.delete_namespace(first_ns)


def _check_second_sandbox(second: Launcher, other: NetworkPlan, plan: NetworkPlan, first_url: str) -> None:
    state = SandboxState.load(second.layout)
    assert state is not None
    cluster = Cluster.connect(second.layout.kubeconfig, second, str(Path(state.bin_dir) / "kubectl"))
    second_ns = cluster.create_namespace("t-kube-proxy-second")
    cluster.apply(second_ns, app.deployment("web", "demo/app:v2", WEB, replicas=1), app.service("web", WEB))
    cluster.wait_deployment_available(second_ns, "web")
    second_url = cluster.service_url(second_ns, "web")

    assert other.net != plan.net
    assert not set(inventory(other).namespaces) & set(inventory(plan).namespaces)
    assert first_url.startswith(f"http://10.{plan.net}.0.") and second_url.startswith(f"http://10.{other.net}.0.")
    assert _answer(first_url)["image"] == "demo/app:v1"
    assert _answer(second_url)["image"] == "demo/app:v2"
    # Each kube-proxy knows its own sandbox's addresses only.
    first_lb = first_url.removeprefix("http://").split(":")[0]
    second_lb = second_url.removeprefix("http://").split(":")[0]
    assert second_lb not in _nft_rules(plan.node_namespace(1))
    assert first_lb not in _nft_rules(other.node_namespace(1))
