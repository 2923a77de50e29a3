"""The sandbox's node agent: a few Nodes, the pods bound to them, and the service proxy.

Run as its own process by `pipeline-steps-sandbox up`:

    python -m pipeline_steps_sandbox.agent --root DIR --nodes 3 --net 211 --kube-version 1.36.3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.addresses import network_claim_ip, node_ip, pod_virtual_ip
from pipeline_steps_sandbox.containers import NodeContext
from pipeline_steps_sandbox.informer import Informer
from pipeline_steps_sandbox.kubelet_server import PodAddress, serve_in_node_namespaces
from pipeline_steps_sandbox.layout import Layout
from pipeline_steps_sandbox.lb_addresses import LoadBalancerAddresses
from pipeline_steps_sandbox.metrics_samples import ContainerProcess, UsageTracker
from pipeline_steps_sandbox.metrics_server import MetricsServer, deregister, keep_registering
from pipeline_steps_sandbox.netns import NetworkPlan
from pipeline_steps_sandbox.nodes import NodeKeeper, node_manifest
from pipeline_steps_sandbox.pod_network import PodNetworks
from pipeline_steps_sandbox.pod_runner import PodRunner
from pipeline_steps_sandbox.proxy import DEFAULT_PROPAGATION_DELAY, ServiceProxy
from pipeline_steps_sandbox.sockets import hold_address

log = logging.getLogger("sandbox.agent")

_TERMINAL_PHASES = ("Succeeded", "Failed")


def node_names(count: int) -> list[str]:
    return [f"sandbox-node-{i}" for i in range(1, count + 1)]


class IpAllocator:
    """Hands out 10.<net>.<node>.<n> per node, and takes them back when a pod is gone."""

    def __init__(self, net: int) -> None:
        self.net = net
        self._used: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def reserve(self, node_index: int, ip: str) -> None:
        with self._lock:
            self._used.setdefault(node_index, set()).add(int(ip.rsplit(".", 1)[1]))

    def allocate(self, node_index: int) -> str:
        with self._lock:
            used = self._used.setdefault(node_index, set())
            host = next(h for h in range(2, 255) if h not in used)
            used.add(host)
            return pod_virtual_ip(self.net, node_index, host)

    def release(self, node_index: int, ip: str) -> None:
        with self._lock:
            self._used.get(node_index, set()).discard(int(ip.rsplit(".", 1)[1]))


class PodSupervisor:
    """Starts a PodRunner for each pod bound to one of our nodes, and hands it updates."""

    def __init__(
        self,
        api: client.ApiClient,
        layout: Layout,
        names: list[str],
        net: int,
        kube_version: str,
        pod_network: PodNetworks | None = None,
    ) -> None:
        self.api = api
        self.pod_network = pod_network
        self.layout = layout
        self.index = {name: i for i, name in enumerate(names, start=1)}
        self.kube_version = kube_version
        self.ips = IpAllocator(net)
        self.runners: dict[str, PodRunner] = {}
        #: Pods whose runner has finished but whose DELETED event has not come yet. The runner's
        #: own final delete is seen first as a MODIFIED event, and that pod must not start again.
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    def on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        node_name = pod["spec"].get("nodeName")
        if node_name not in self.index:
            return
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid in self._finished:
                if kind == "DELETED":
                    self._finished.discard(uid)
                return
            runner = self.runners.get(uid)
            if runner is None:
                if kind == "DELETED" or (pod.get("status") or {}).get("phase") in _TERMINAL_PHASES:
                    return
                runner = self._new_runner(node_name, pod)
                self.runners[uid] = runner
                runner.start()
                return
            # Under the lock, so a DELETED that reaches a runner is seen by its on_exit.
            runner.observe(kind, pod)

    def _new_runner(self, node_name: str, pod: dict[str, Any]) -> PodRunner:
        node_index = self.index[node_name]
        existing_ip = (pod.get("status") or {}).get("podIP")
        if existing_ip:  # the agent restarted: the pod keeps its address
            self.ips.reserve(node_index, existing_ip)
            ip = existing_ip
        else:
            ip = self.ips.allocate(node_index)
        node = NodeContext(
            api=self.api,
            node_name=node_name,
            host_ip=node_ip(self.ips.net, node_index),
            sandbox_root=self.layout.root,
            pod_logs=self.layout.pods,
            kube_version=self.kube_version,
            pod_network=self.pod_network,
        )

        def on_exit(runner: PodRunner) -> None:
            with self._lock:
                self.runners.pop(runner.uid, None)
                if not runner.pod_deleted:
                    self._finished.add(runner.uid)
            if self.pod_network is not None:
                self.pod_network.remove(ip)
            self.ips.release(node_index, ip)

        return PodRunner(node, pod, ip, on_exit=on_exit)

    def container_processes(self) -> list[ContainerProcess]:
        """Every running container's process, for the metrics API."""
        with self._lock:
            runners = list(self.runners.values())
        found = []
        for runner in runners:
            meta = runner.pod["metadata"]
            for run in runner.containers:
                process = run.process
                if process is not None:
                    found.append(
                        ContainerProcess(
                            runner.uid,
                            runner.namespace,
                            runner.name,
                            meta.get("labels") or {},
                            runner.node.node_name,
                            run.name,
                            process.pid,
                        )
                    )
        return found

    def shutdown(self) -> None:
        with self._lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.kill_now()
        for runner in runners:
            runner.thread.join(timeout=10)


def _pod_address(core: client.CoreV1Api) -> PodAddress:
    def address(namespace: str, name: str) -> str | None:
        try:
            pod = core.read_namespaced_pod(name, namespace)
        except ApiException:
            return None
        return str(pod.status.pod_ip) if pod.status and pod.status.pod_ip else None

    return address


def run(args: argparse.Namespace) -> None:  # noqa: PLR0915 (the start-up reads best in order)
    # Held until the process ends: no other sandbox on this machine takes our network meanwhile.
    claim = hold_address(network_claim_ip(args.net))
    layout = Layout(Path(args.root))
    layout.pods.mkdir(parents=True, exist_ok=True)
    api = config.new_client_from_config(config_file=str(layout.kubeconfig))
    # One pod runner thread each, plus informers and the proxy: more than urllib3's default 10.
    api.rest_client.pool_manager.connection_pool_kw["maxsize"] = 64
    stop = threading.Event()
    names = node_names(args.nodes)

    keeper = NodeKeeper(api, names, args.net, args.kube_version, stop)
    keeper.register()
    threading.Thread(target=keeper.run, name="node-heartbeat", daemon=True).start()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    core = client.CoreV1Api(api)
    discovery = client.DiscoveryV1Api(api)
    proxy: ServiceProxy | None = None
    if args.data_plane == "kube-proxy":
        # kube-proxy (started by the launcher, one per node namespace) carries Service traffic.
        plan = NetworkPlan(args.net)
        pods = PodSupervisor(api, layout, names, args.net, args.kube_version, pod_network=PodNetworks(plan))
        addresses = LoadBalancerAddresses(api, plan)
        informers = [Informer("services", core.list_service_for_all_namespaces, addresses.on_service, stop)]
        # pods/portforward: the apiserver reaches a Node's kubelet port in the Node's namespace.
        serve_in_node_namespaces(
            [plan.node_namespace(i + 1) for i in range(len(names))], layout.pki, _pod_address(core), stop
        )
    else:
        proxy = ServiceProxy(api, args.net, loop, propagation_delay=args.proxy_delay)
        pods = PodSupervisor(api, layout, names, args.net, args.kube_version)
        informers = [
            Informer("endpointslices", discovery.list_endpoint_slice_for_all_namespaces, proxy.on_slice, stop),
            Informer("services", core.list_service_for_all_namespaces, proxy.on_service, stop),
        ]
    informers.append(
        Informer("pods", core.list_pod_for_all_namespaces, pods.on_pod, stop, field_selector="spec.nodeName!=")
    )
    for informer in informers:
        informer.start()

    # metrics.k8s.io from the pods' real CPU and memory, for `kubectl top` and the HPA controller.
    node_labels = {
        name: node_manifest(name, i, args.net, args.kube_version)["metadata"]["labels"]
        for i, name in enumerate(names, start=1)
    }
    usage = UsageTracker(pods.container_processes, node_labels)
    threading.Thread(target=usage.run, args=(stop,), name="metrics-sampler", daemon=True).start()
    metrics = MetricsServer(layout.pki, usage.snapshot)
    metrics.start()
    ca_bundle = layout.pki.ca_cert.read_bytes()
    threading.Thread(
        target=keep_registering, args=(api, metrics.port, ca_bundle, stop), name="metrics-register", daemon=True
    ).start()

    def request_stop() -> None:
        stop.set()
        loop.call_soon_threadsafe(loop.stop)

    loop.add_signal_handler(signal.SIGTERM, request_stop)
    loop.add_signal_handler(signal.SIGINT, request_stop)
    log.info("agent up: nodes %s, network 10.%d.0.0/16 (loopback 127.%d.0.0/16)", names, args.net, args.net)
    loop.run_forever()

    log.info("agent stopping: killing pods")
    metrics.close()
    pods.shutdown()
    if proxy is not None:
        loop.run_until_complete(proxy.close())
    if args.deregister:
        keeper.deregister()
        deregister(api)
    claim.close()
    log.info("agent stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="the sandbox directory (kubeconfig, logs)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--net", type=int, required=True, help="second octet of the pod network")
    parser.add_argument("--kube-version", required=True)
    parser.add_argument(
        "--proxy-delay",
        type=float,
        default=DEFAULT_PROPAGATION_DELAY,
        help="seconds between an EndpointSlice change and the proxy acting on it",
    )
    parser.add_argument(
        "--data-plane",
        choices=("python", "kube-proxy"),
        default="python",
        help="who carries Service traffic: the Python service proxy, or kube-proxy with pods in network namespaces",
    )
    parser.add_argument("--deregister", action="store_true", help="delete the Nodes on the way out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    run(args)


if __name__ == "__main__":
    main()
