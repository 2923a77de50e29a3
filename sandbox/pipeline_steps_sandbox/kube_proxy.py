"""The real kube-proxy, one per sandbox node, each inside that node's network namespace.

kube-proxy writes its nftables (or iptables) rules into the namespace it runs in, so each sandbox's
rules stay in namespaces it created: two sandboxes' rules never meet and the host's tables are never
written. It reaches the apiserver through netns_forward, which makes the host's 127.0.0.1:<port>
answer on 127.0.0.1:<port> inside the node namespace.

The binary is built by build/build-kube-proxy.sh into a cache directory of its own (so the control
plane's cached build stays valid), or taken from PIPELINE_STEPS_KUBE_PROXY_BIN.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_steps_sandbox import netns
from pipeline_steps_sandbox.launcher import SandboxError
from pipeline_steps_sandbox.layout import MARKER_ENV
from pipeline_steps_sandbox.netns import NetworkPlan

KUBE_PROXY_BIN_ENV = "PIPELINE_STEPS_KUBE_PROXY_BIN"
BUILD_SCRIPT = Path(__file__).resolve().parent / "build" / "build-kube-proxy.sh"
MODES = ("nftables", "iptables")


def resolve_kube_proxy() -> Path:
    """The kube-proxy binary: from PIPELINE_STEPS_KUBE_PROXY_BIN (a directory), else built or reused."""
    named = os.environ.get(KUBE_PROXY_BIN_ENV)
    if named:
        binary = Path(named) / "kube-proxy"
        if not os.access(binary, os.X_OK):
            raise SandboxError(f"{KUBE_PROXY_BIN_ENV}={named} holds no executable kube-proxy")
        return binary
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SandboxError(f"building kube-proxy failed ({BUILD_SCRIPT}):\n{result.stderr[-2000:]}")
    return Path(result.stdout.strip().splitlines()[-1]) / "kube-proxy"


def kube_proxy_command(
    binary: Path, kubeconfig: Path, node_name: str, plan: NetworkPlan, mode: str, config: Path | None = None
) -> list[str]:
    """kube-proxy's command line; with `config` (see kube_proxy_config) the settings come from that file.

    kube-proxy ignores its other flags when --config is given (cmd/kube-proxy/app/options.go, Complete),
    so the file holds every setting the flags below set."""
    if mode not in MODES:
        raise SandboxError(f"kube-proxy mode {mode!r}: choose one of {', '.join(MODES)}")
    if config is not None:
        return [str(binary), f"--config={config}", f"--hostname-override={node_name}"]
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        f"--proxy-mode={mode}",
        f"--cluster-cidr={plan.cluster_cidr}",
        # These three would write the host-wide conntrack table size and timeouts: left as they are.
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        # Inside the node namespace, so every node can use the usual ports.
        "--metrics-bind-address=127.0.0.1:10249",
        "--healthz-bind-address=127.0.0.1:10256",
    ]


def kube_proxy_config(
    kubeconfig: Path, node_name: str, plan: NetworkPlan, mode: str, min_sync_period: float
) -> dict[str, object]:
    """A KubeProxyConfiguration (v1alpha1) with the same settings as kube_proxy_command's flags, and the
    min sync period of the mode's rules: the least time between two rewrites of them, so endpoint
    changes within it reach the data plane together (kube-proxy's default: 1s; a busy cluster's: more).

    The mode's own section carries it (`nftables.minSyncPeriod`, `iptables.minSyncPeriod`): kube-proxy
    reads the section of the mode it runs (pkg/proxy/apis/config/v1alpha1/conversion.go)."""
    if mode not in MODES:
        raise SandboxError(f"kube-proxy mode {mode!r}: choose one of {', '.join(MODES)}")
    if min_sync_period < 0:
        raise SandboxError(f"kube-proxy min sync period {min_sync_period}s: it cannot be negative")
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node_name,
        "mode": mode,
        "clusterCIDR": plan.cluster_cidr,
        # 0: leave the host-wide conntrack table size and timeouts as they are.
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        mode: {"minSyncPeriod": f"{round(min_sync_period * 1000)}ms"},
    }


@dataclass
class KubeProxyDataPlane:
    """The node namespaces of one sandbox, each with its apiserver forwarder and its kube-proxy."""

    plan: NetworkPlan
    kubeconfig: Path
    apiserver_port: int
    logs: Path
    sandbox_dir: Path
    mode: str = "nftables"
    #: Seconds by which what the apiserver sends reaches kube-proxy late (see netns_forward).
    watch_delay: float = 0.0
    #: kube-proxy's min sync period in seconds; None: its own default (1s).
    min_sync_period: float | None = None
    binary: Path | None = None
    pids: list[int] = field(default_factory=list)

    def start(self) -> None:
        """The guard route, before anything else is made."""
        netns.add_guard(self.plan)
        if self.binary is None:
            self.binary = resolve_kube_proxy()

    def add_node(self, node: int, node_name: str) -> str:
        assert self.binary is not None, "start() first"
        namespace = netns.add_node(self.plan, node)
        self.logs.mkdir(parents=True, exist_ok=True)
        forward = [sys.executable, "-m", "pipeline_steps_sandbox.netns_forward", namespace, str(self.apiserver_port)]
        if self.watch_delay > 0:
            forward += ["--delay", str(self.watch_delay)]
        self.pids.append(self._spawn(f"apiserver-forward-{namespace}", forward))
        config = None
        if self.min_sync_period is not None:
            settings = kube_proxy_config(self.kubeconfig, node_name, self.plan, self.mode, self.min_sync_period)
            config = self.sandbox_dir / "kube-proxy" / f"{node_name}.json"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(json.dumps(settings, indent=2))  # JSON is YAML: kube-proxy reads either
        command = kube_proxy_command(self.binary, self.kubeconfig, node_name, self.plan, self.mode, config)
        self.pids.append(self._spawn(f"kube-proxy-{namespace}", netns.in_namespace(namespace, command)))
        return namespace

    def wait_ready(self, node: int, timeout: float = 30.0) -> None:
        """Until kube-proxy in the node's namespace says healthy (it has synced its rules once)."""
        namespace = self.plan.node_namespace(node)
        probe = [sys.executable, "-c", _HEALTHZ_PROBE]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if subprocess.run(netns.in_namespace(namespace, probe), capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise SandboxError(f"kube-proxy in {namespace} did not become healthy; see {self.logs}")

    def stop(self) -> netns.Inventory:
        """Stop its processes and remove every namespace, link and route; returns what is left."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for pid in self.pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pids.clear()
        return netns.teardown(self.plan)

    def _spawn(self, name: str, command: list[str]) -> int:
        log = (self.logs / f"{name}.log").open("ab")
        # The marker lets `down` find these even when the launcher that started them is gone.
        env = dict(os.environ, **{MARKER_ENV: str(self.sandbox_dir)})
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
        log.close()
        return process.pid


_HEALTHZ_PROBE = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10256/healthz', timeout=1)"


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return finished == 0
