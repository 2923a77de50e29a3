"""Starts and stops a whole sandbox: etcd, the control plane, and the node agent, in order."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_steps_sandbox import control_plane as cp
from pipeline_steps_sandbox.addresses import NETWORK_OCTETS, kubernetes_service_ip, network_claim_ip
from pipeline_steps_sandbox.certs import ADMIN, create_pki
from pipeline_steps_sandbox.layout import MARKER_ENV, Layout, SandboxState
from pipeline_steps_sandbox.sockets import hold_address, listening

if TYPE_CHECKING:
    from pipeline_steps_sandbox.kube_proxy import KubeProxyDataPlane

#: The Go build of the control plane ships inside this package, next to its pinned Go modules.
BUILD_SCRIPT = Path(__file__).resolve().parent / "build" / "build.sh"
BIN_DIR_ENV = "PIPELINE_STEPS_SANDBOX_BIN"
#: Components in start order; `down` stops them in reverse.
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
#: What `stop`, `start`, `restart`, `freeze` and `thaw` act on: the node agent's pods die with it, so it is
#: not among them (a kubelet restart keeps its containers; the sandbox's agent cannot).
CONTROL_PLANE = ORDER[:4]
STOP_GRACE_SECONDS = 5.0


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped; the message says what to look at."""


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def resolve_bin_dir(explicit: str | None, progress: Progress) -> Path:
    """Binaries: an explicit directory, $PIPELINE_STEPS_SANDBOX_BIN, or this package's build."""
    chosen = explicit or os.environ.get(BIN_DIR_ENV)
    if chosen:
        return Path(chosen)
    return build_binaries(progress)


def build_binaries(progress: Progress) -> Path:
    """Builds the control plane with the machine's Go, or reuses the cached build; returns its directory."""
    progress(f"building or reusing the control-plane binaries ({BUILD_SCRIPT})")
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise SandboxError(
            f"the control-plane build failed with exit code {result.returncode}; its output is above. "
            f"Or pass --bin-dir or set {BIN_DIR_ENV} to a directory holding etcd, kube-apiserver, "
            "kube-controller-manager, kube-scheduler and kubectl"
        )
    return Path(result.stdout.strip().splitlines()[-1])


#: Where the control plane's ports are chosen: below the NodePort range (30000-32767, where the proxy listens)
#: and, on a usual system, below the ephemeral range that outgoing connections take their source ports from.
COMPONENT_PORTS = range(20000, 30000)
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_ports() -> range:
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def _free_ports(count: int) -> list[int]:
    """Ports nothing listens on, outside the ephemeral range: a component restarted on its port must find it free,
    and a client connection (of which a load test opens thousands) may take any ephemeral port as its own
    source port, which keeps a listener off that port until the connection's TIME_WAIT is over."""
    ephemeral = _ephemeral_ports()
    candidates = [port for port in COMPONENT_PORTS if port not in ephemeral]
    random.shuffle(candidates)
    chosen: list[int] = []
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise SandboxError(
        f"no {count} free ports in {COMPONENT_PORTS.start}-{COMPONENT_PORTS.stop - 1} outside the "
        f"ephemeral range {ephemeral.start}-{ephemeral.stop - 1}"
    )


def _claim_network_octet() -> tuple[int, socket.socket]:
    """A pod network no other sandbox on this machine uses, and the socket that claims it.

    A running sandbox's agent listens on its network's claim address even while no pod or Service
    of it does, so a network where nothing listens is free. The launcher holds its own claim until
    the agent holds one; a second launcher that picked the same network in the same instant sees
    the other claim, and both pick again."""
    for _ in range(20):
        taken = {int(address.split(".")[1]) for address, _ in listening() if address.startswith("127.")}
        free = [octet for octet in NETWORK_OCTETS if octet not in taken]
        if not free:
            raise SandboxError("every sandbox pod network (127.200-249.x.x) is in use; stop another sandbox first")
        octet = random.choice(free)  # noqa: S311 - a spread, not a secret
        claim = hold_address(network_claim_ip(octet))
        prefix = f"127.{octet}."
        if {entry for entry in listening() if entry[0].startswith(prefix)} == {claim.getsockname()}:
            return octet, claim
        claim.close()
        time.sleep(random.random() / 10)  # noqa: S311
    raise SandboxError("could not claim a sandbox pod network: other sandboxes keep starting at the same time")


def _kube_version(bin_dir: Path) -> str:
    out = subprocess.run(
        [str(bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[-1].lstrip("v")


def _admin_ssl(layout: Layout) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(layout.pki.ca_cert))
    context.load_cert_chain(str(layout.pki.client_cert(ADMIN)), str(layout.pki.client_key(ADMIN)))
    return context


def _insecure_ssl() -> ssl.SSLContext:
    # kube-controller-manager and kube-scheduler serve /healthz on a self-signed certificate.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _get(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(exc)


DATA_PLANES = ("auto", "kube-proxy", "python")


def choose_data_plane(requested: str) -> tuple[str, str]:
    """The data plane to start and why: `auto` takes the real kube-proxy wherever it can run.

    kube-proxy needs network namespaces (root, iproute2); without them the Python service proxy
    stands in, and the reason is said, so that no one reads its figures as kube-proxy's."""
    if requested not in DATA_PLANES:
        raise SandboxError(f"data plane {requested!r}: choose one of {', '.join(DATA_PLANES)}")
    if requested != "auto":
        return requested, "asked for"
    if os.geteuid() != 0:
        return "python", "not root: network namespaces for kube-proxy need root"
    if shutil.which("ip") is None:
        return "python", "no `ip` command (iproute2): network namespaces for kube-proxy need it"
    if shutil.which("nft") is None:
        return "python", "no `nft` command (nftables): kube-proxy's nftables mode needs it"
    return "kube-proxy", "root and iproute2 are here"


class Launcher:
    def __init__(self, root: Path, progress: Progress = _quiet) -> None:
        self.layout = Layout(root)
        self.progress = progress

    # -- up ---------------------------------------------------------------------------------------

    def up(
        self,
        nodes: int = 3,
        bin_dir: str | None = None,
        timeout: float = 180.0,
        proxy_delay: float | None = None,
        data_plane: str = "auto",
        kube_proxy_min_sync_period: float | None = None,
    ) -> SandboxState:
        """`kube_proxy_min_sync_period`: kube-proxy's min sync period in seconds (None: its default, 1s)."""
        data_plane, why = choose_data_plane(data_plane)
        if kube_proxy_min_sync_period is not None and data_plane != "kube-proxy":
            raise SandboxError(f"a kube-proxy min sync period needs the kube-proxy data plane, not {data_plane}")
        self.progress(f"data plane: {data_plane} ({why})")
        existing = SandboxState.load(self.layout)
        if existing is not None and self._alive(existing):
            raise SandboxError(
                f"a sandbox is already running in {self.layout.root}; "
                f"run `pipeline-steps-sandbox down --dir {self.layout.root}` first"
            )
        self.down(quiet=True)
        binaries = resolve_bin_dir(bin_dir, self.progress)
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            if not os.access(binaries / name, os.X_OK):
                raise SandboxError(f"{binaries / name} is missing or not executable")

        layout = self.layout
        for path in (layout.etcd_data, layout.pods, layout.logs, layout.root / "pki"):
            shutil.rmtree(path, ignore_errors=True)
        layout.logs.mkdir(parents=True)
        layout.pods.mkdir(parents=True)
        network_octet, claim = _claim_network_octet()
        try:
            create_pki(layout.pki, kubernetes_service_ip(network_octet))
            ports = cp.Ports(*_free_ports(5))
            cp.write_kubeconfigs(layout, f"https://127.0.0.1:{ports.apiserver}")
            return self._start(
                layout,
                binaries,
                nodes,
                ports,
                network_octet,
                timeout,
                proxy_delay,
                data_plane,
                kube_proxy_min_sync_period,
            )
        finally:
            claim.close()  # the agent holds its own claim from its first moment

    def _start(
        self,
        layout: Layout,
        binaries: Path,
        nodes: int,
        ports: cp.Ports,
        network_octet: int,
        timeout: float,
        proxy_delay: float | None,
        data_plane: str = "python",
        kube_proxy_min_sync_period: float | None = None,
    ) -> SandboxState:
        apiserver_url = f"https://127.0.0.1:{ports.apiserver}"
        state = SandboxState(
            bin_dir=str(binaries),
            kube_version=_kube_version(binaries),
            apiserver_url=apiserver_url,
            etcd_url=f"http://127.0.0.1:{ports.etcd_client}",
            network_octet=network_octet,
            nodes=[f"sandbox-node-{i}" for i in range(1, nodes + 1)],
            ports=ports.as_dict(),
            started_at=time.time(),
            data_plane=data_plane,
        )
        state.save(layout)
        kube_proxies = (
            self._prepare_kube_proxy(state, proxy_delay, kube_proxy_min_sync_period)
            if data_plane == "kube-proxy"
            else None
        )
        deadline = time.monotonic() + timeout
        admin = _admin_ssl(layout)
        agent = [
            sys.executable,
            "-m",
            "pipeline_steps_sandbox.agent",
            "--root",
            str(layout.root),
            "--nodes",
            str(nodes),
            "--net",
            str(state.network_octet),
            "--kube-version",
            state.kube_version,
            *(["--proxy-delay", str(proxy_delay)] if proxy_delay is not None else []),
            *(["--data-plane", data_plane] if data_plane != "python" else []),
        ]
        steps = [*(self._control_plane(state, name) for name in CONTROL_PLANE)]
        steps.append(("node-agent", agent, lambda: self._check_nodes_ready(state, admin)))
        try:
            for name, command, check in steps:
                started = time.monotonic()
                self.progress(f"starting {name}")
                state.pids[name] = self._spawn(name, command)
                state.save(layout)
                self._wait(name, state.pids[name], check, deadline)
                state.startup_seconds[name] = round(time.monotonic() - started, 2)
            if kube_proxies is not None:
                started = time.monotonic()
                self.progress("starting kube-proxy in each node's network namespace")
                for index, node_name in enumerate(state.nodes, start=1):
                    kube_proxies.add_node(index, node_name)
                for index in range(1, len(state.nodes) + 1):
                    kube_proxies.wait_ready(index, timeout=max(1.0, deadline - time.monotonic()))
                state.startup_seconds["kube-proxy"] = round(time.monotonic() - started, 2)
            started = time.monotonic()
            self._wait(
                "default ServiceAccount",
                None,
                lambda: self._check_http(
                    f"{apiserver_url}/api/v1/namespaces/default/serviceaccounts/default", admin, '"name":"default"'
                ),
                deadline,
            )
            state.startup_seconds["default ServiceAccount"] = round(time.monotonic() - started, 2)
        except BaseException:
            self.down(quiet=True)
            raise
        state.startup_seconds["total"] = round(time.time() - state.started_at, 2)
        state.save(layout)
        return state

    def _control_plane(self, state: SandboxState, name: str) -> tuple[str, list[str], Callable[[], str | None]]:
        """One control-plane component's command line and health check, from what `up` recorded: a component
        started again gets the same ports, certificates and data directory, so its clients reconnect."""
        layout, binaries, ports = self.layout, Path(state.bin_dir), cp.Ports(**state.ports)
        if name == "etcd":
            return (
                name,
                cp.etcd_command(binaries, layout, ports),
                lambda: self._check_http(f"{state.etcd_url}/health", None, '"health":"true"'),
            )
        if name == "kube-apiserver":
            admin = _admin_ssl(layout)
            return (
                name,
                cp.apiserver_command(binaries, layout, ports, state.network_octet),
                lambda: self._check_http(f"{state.apiserver_url}/readyz", admin, "ok"),
            )
        if name == "kube-controller-manager":
            return (
                name,
                cp.controller_manager_command(binaries, layout, ports, state.network_octet),
                lambda: self._check_http(
                    f"https://127.0.0.1:{ports.controller_manager}/healthz", _insecure_ssl(), "ok"
                ),
            )
        if name == "kube-scheduler":
            return (
                name,
                cp.scheduler_command(binaries, layout, ports),
                lambda: self._check_http(f"https://127.0.0.1:{ports.scheduler}/healthz", _insecure_ssl(), "ok"),
            )
        raise SandboxError(f"unknown component {name!r}; the control plane is {', '.join(CONTROL_PLANE)}")

    def _spawn(self, name: str, command: list[str]) -> int:
        env = dict(os.environ, **{MARKER_ENV: str(self.layout.root)})
        with open(self.layout.log(name), "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        return process.pid

    def _wait(self, name: str, pid: int | None, check: Callable[[], str | None], deadline: float) -> None:
        last = "not checked yet"
        while time.monotonic() < deadline:
            if pid is not None and not _pid_alive(pid):
                raise SandboxError(
                    f"{name} exited during start-up; see {self.layout.log(name)}:\n" + _tail(self.layout.log(name))
                )
            problem = check()
            if problem is None:
                return
            last = problem
            time.sleep(0.2)
        hint = f"; see {self.layout.log(name)}" if pid is not None else ""
        raise SandboxError(f"{name} was not ready in time (last check: {last}){hint}")

    @staticmethod
    def _check_http(url: str, context: ssl.SSLContext | None, expect: str) -> str | None:
        status, body = _get(url, context)
        if status == 200 and expect in body:
            return None
        return f"GET {url}: {status or ''} {body[:200]}".strip()

    def _check_nodes_ready(self, state: SandboxState, context: ssl.SSLContext) -> str | None:
        status, body = _get(f"{state.apiserver_url}/api/v1/nodes", context)
        if status != 200:
            return f"listing nodes: {status} {body[:200]}"
        ready = {
            item["metadata"]["name"]
            for item in json.loads(body).get("items", [])
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (item.get("status") or {}).get("conditions") or []
            )
        }
        missing = sorted(set(state.nodes) - ready)
        return f"nodes not ready: {', '.join(missing)}" if missing else None

    # -- down / status ------------------------------------------------------------------------------

    def _alive(self, state: SandboxState) -> bool:
        return any(_pid_alive(pid) for pid in state.pids.values())

    def down(self, quiet: bool = False) -> list[str]:
        """Stop everything this sandbox started; returns what was stopped."""
        stopped: list[str] = []
        state = SandboxState.load(self.layout)
        if state is not None:
            for name in reversed(ORDER):
                pid = state.pids.get(name)
                if pid is not None and _stop_group(pid):
                    stopped.append(name)
        # Whatever is left with our marker (pods of a killed agent, a component whose pid file
        # was lost) goes too.
        for pid in marked_processes(self.layout.root):
            _stop_group(pid, grace=0)
            stopped.append(f"pid {pid}")
        if state is not None and state.data_plane == "kube-proxy":
            from pipeline_steps_sandbox import netns  # noqa: PLC0415 (netns imports this module)

            left = netns.teardown(netns.NetworkPlan(state.network_octet))
            stopped.append("network namespaces")
            if not left.empty():
                raise SandboxError(f"could not remove all of the sandbox's network: {left}")
        if state is not None:
            state.pids, state.stopped, state.frozen = {}, [], []
            state.save(self.layout)
        if not quiet and stopped:
            self.progress("stopped " + ", ".join(stopped))
        return stopped

    def _prepare_kube_proxy(
        self, state: SandboxState, proxy_delay: float | None, min_sync_period: float | None = None
    ) -> KubeProxyDataPlane:
        """The guard route for the sandbox's range first, then kube-proxy's binary; nodes come later.

        `proxy_delay` means for kube-proxy what it means for the Python proxy: how late a changed
        EndpointSlice reaches the rules (its watch events are held back that long)."""
        from pipeline_steps_sandbox.kube_proxy import KubeProxyDataPlane  # noqa: PLC0415 (imports this module)
        from pipeline_steps_sandbox.netns import NetworkPlan  # noqa: PLC0415
        from pipeline_steps_sandbox.proxy import DEFAULT_PROPAGATION_DELAY  # noqa: PLC0415

        plane = KubeProxyDataPlane(
            plan=NetworkPlan(state.network_octet),
            kubeconfig=self.layout.kubeconfig,
            apiserver_port=state.ports["apiserver"],
            logs=self.layout.logs,
            sandbox_dir=self.layout.root,
            watch_delay=DEFAULT_PROPAGATION_DELAY if proxy_delay is None else proxy_delay,
            min_sync_period=min_sync_period,
        )
        plane.start()
        return plane

    def status(self) -> dict[str, object]:
        state = SandboxState.load(self.layout)
        if state is None:
            return {"running": False, "root": str(self.layout.root)}
        components = {name: _pid_alive(pid) for name, pid in state.pids.items()}
        if components:
            components.update({name: False for name in state.stopped})
        readyz = None
        if components.get("kube-apiserver") and "kube-apiserver" not in state.frozen:
            readyz = _get(f"{state.apiserver_url}/readyz", _admin_ssl(self.layout))[1].strip()
        return {
            "running": bool(components) and all(components.values()) and not state.frozen,
            "root": str(self.layout.root),
            "kubeconfig": str(self.layout.kubeconfig),
            "apiserver": state.apiserver_url,
            "kube_version": state.kube_version,
            "nodes": state.nodes,
            "components": components,
            "frozen": state.frozen,
            "readyz": readyz,
            "startup_seconds": state.startup_seconds,
        }

    # -- one component: faults for tests ---------------------------------------------------------------

    def _running_state(self, component: str) -> SandboxState:
        if component not in CONTROL_PLANE:
            raise SandboxError(f"unknown component {component!r}; choose one of {', '.join(CONTROL_PLANE)}")
        state = SandboxState.load(self.layout)
        if state is None or not state.pids:
            raise SandboxError(f"no sandbox runs in {self.layout.root}; start one with `pipeline-steps-sandbox up`")
        return state

    def stop(self, component: str, *, kill: bool = False) -> None:
        """Stop one control-plane component: SIGTERM and SIGKILL after a grace period, as an upgrade does; with
        `kill`, SIGKILL at once, as a crash does (etcd and the apiserver take seconds to drain their clients)."""
        state = self._running_state(component)
        pid = state.pids.pop(component, None)
        if pid is not None:
            _stop_group(pid, grace=0 if kill else STOP_GRACE_SECONDS)
        if component not in state.stopped:
            state.stopped.append(component)
        state.frozen = [name for name in state.frozen if name != component]
        state.save(self.layout)
        self.progress(f"{'killed' if kill else 'stopped'} {component}")

    def start(self, component: str, timeout: float = 60.0) -> None:
        """Start a stopped component again on the same ports, certificates and data; wait for its health check."""
        state = self._running_state(component)
        pid = state.pids.get(component)
        if pid is not None and _pid_alive(pid):
            raise SandboxError(f"{component} is running already (pid {pid}); use `restart` to start it again")
        name, command, check = self._control_plane(state, component)
        deadline = time.monotonic() + timeout
        # A killed process shows as a zombie while its other threads still hold its sockets: its successor must
        # not try to listen before they are closed.
        self._wait(f"{name}'s ports to be free", None, lambda: _ports_in_use(_ports_of(state, name)), deadline)
        self.progress(f"starting {name}")
        state.pids[name] = self._spawn(name, command)
        state.stopped = [other for other in state.stopped if other != name]
        state.save(self.layout)
        self._wait(name, state.pids[name], check, deadline)

    def restart(self, component: str, *, kill: bool = False, timeout: float = 60.0) -> None:
        """Stop and start one component; its clients see their connections drop and then reconnect."""
        self.stop(component, kill=kill)
        self.start(component, timeout)

    def freeze(self, component: str) -> None:
        """SIGSTOP one component: it keeps its sockets and accepts connections, and answers nothing (a hung
        process, a long GC pause, a VM stalled), until `thaw`."""
        state = self._running_state(component)
        pid = state.pids.get(component)
        if pid is None or not _pid_alive(pid):
            raise SandboxError(f"{component} is not running; start it first")
        os.killpg(pid, signal.SIGSTOP)
        if component not in state.frozen:
            state.frozen.append(component)
        state.save(self.layout)
        self.progress(f"froze {component}")

    def thaw(self, component: str) -> None:
        """SIGCONT a frozen component: it carries on where it stopped."""
        state = self._running_state(component)
        pid = state.pids.get(component)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
        state.frozen = [name for name in state.frozen if name != component]
        state.save(self.layout)
        self.progress(f"thawed {component}")


def _ports_of(state: SandboxState, component: str) -> list[int]:
    names = {
        "etcd": ("etcd_client", "etcd_peer"),
        "kube-apiserver": ("apiserver",),
        "kube-controller-manager": ("controller_manager",),
        "kube-scheduler": ("scheduler",),
    }
    return [state.ports[name] for name in names[component]]


def _ports_in_use(ports: list[int]) -> str | None:
    """None when a listener could bind each port (as the components do, with SO_REUSEADDR); else what is in use."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                return f"127.0.0.1:{port}: {exc.strerror}"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes; it only waits for its parent to reap it.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return False


def _stop_group(pid: int, grace: float = STOP_GRACE_SECONDS) -> bool:
    """SIGTERM the process group led by `pid`, then SIGKILL after `grace`. True if it was alive."""
    if not _pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        # A frozen (SIGSTOPped) process acts on SIGTERM only once it runs again.
        os.killpg(pid, signal.SIGCONT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.05)
    return True


def marked_processes(root: Path) -> list[int]:
    """Processes whose environment carries this sandbox's marker."""
    needle = f"{MARKER_ENV}={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
