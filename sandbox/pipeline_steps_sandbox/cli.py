"""`pipeline-steps-sandbox up|down|status|build`: a real local Kubernetes for trying and testing releases.

`restart|stop|start|freeze|thaw COMPONENT` inject faults into a running sandbox's control plane."""

from __future__ import annotations

import argparse
import enum
import json
import sys
from pathlib import Path

from pipeline_steps_sandbox.launcher import CONTROL_PLANE, DATA_PLANES, Launcher, SandboxError, build_binaries
from pipeline_steps_sandbox.layout import default_root


class ExitCode(enum.IntEnum):
    """The sandbox command's own exit codes; they are not pipeline-steps' release outcomes."""

    OK = 0
    FAILED = 1
    USAGE = 2
    #: Numbered apart from pipeline-steps' 3-5, so a script never reads it as "rolled back".
    NOT_RUNNING = 10


EPILOG = """exit codes:
  0   ok (status: the sandbox runs)
  1   failed: it could not be started, stopped or built; the message says what to look at
  2   usage error
  10  status only: the sandbox is not running"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline-steps-sandbox",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start the sandbox and write its kubeconfig")
    up.add_argument("--nodes", type=int, default=3, help="how many Nodes the agent registers (default 3)")
    up.add_argument(
        "--bin-dir",
        help="directory of etcd and the Kubernetes binaries "
        "(default: $PIPELINE_STEPS_SANDBOX_BIN, else build or reuse them, as `build` does)",
    )
    up.add_argument(
        "--proxy-delay",
        type=float,
        default=None,
        help="seconds by which an endpoint change reaches the data plane late (default 0.5), as on a busy "
        "node: kube-proxy gets its watch events that late; the Python proxy acts that late",
    )
    up.add_argument(
        "--data-plane",
        choices=DATA_PLANES,
        default="auto",
        help="who carries Service traffic: the real kube-proxy with pods in network namespaces (needs root "
        "and iproute2), or the Python service proxy, the fallback where kube-proxy cannot run; "
        "auto (default) takes kube-proxy where it can (see docs/sandbox.md)",
    )
    up.add_argument(
        "--kube-proxy-min-sync-period",
        type=float,
        default=None,
        metavar="SECONDS",
        help="kube-proxy's min sync period: the least time between two rewrites of its rules (default: "
        "kube-proxy's own, 1s); a busy cluster's is longer (kube-proxy data plane only)",
    )
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the whole start-up")
    down = verbs.add_parser("down", help="stop everything the sandbox started")
    status = verbs.add_parser("status", help="show whether the sandbox runs and where (exit code 10: it does not)")
    status.add_argument("--output", choices=("text", "json"), default="text")
    faults = {
        "restart": "stop a control-plane component and start it again on the same ports, certificates and data",
        "stop": "stop a control-plane component (it stays down until `start`)",
        "start": "start a stopped control-plane component again and wait for its health check",
        "freeze": "SIGSTOP a control-plane component: it keeps its connections and answers nothing until `thaw`",
        "thaw": "SIGCONT a frozen control-plane component",
    }
    fault_parsers = []
    for verb, text in faults.items():
        sub = verbs.add_parser(verb, help=text, description=text + ". Clients reconnect by themselves.")
        sub.add_argument("component", choices=CONTROL_PLANE)
        if verb in ("restart", "stop"):
            sub.add_argument(
                "--kill",
                action="store_true",
                help="SIGKILL at once, as a crash does (default: SIGTERM, SIGKILL after 5 s, as an upgrade does)",
            )
        fault_parsers.append(sub)
    for sub in (up, down, status, *fault_parsers):
        sub.add_argument(
            "--dir", type=Path, default=default_root(), help="the sandbox's directory (default: %(default)s)"
        )
    verbs.add_parser(
        "build",
        help="build the control-plane binaries with Go (or reuse the cached build) and print their directory",
    )
    return parser


def _say(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def _up(launcher: Launcher, args: argparse.Namespace) -> ExitCode:
    state = launcher.up(
        nodes=args.nodes,
        bin_dir=args.bin_dir,
        timeout=args.timeout,
        proxy_delay=args.proxy_delay,
        data_plane=args.data_plane,
        kube_proxy_min_sync_period=args.kube_proxy_min_sync_period,
    )
    print(f"Kubernetes v{state.kube_version} sandbox is up in {state.startup_seconds['total']:.1f}s.")
    print(f"  nodes:      {', '.join(state.nodes)}")
    print(f"  apiserver:  {state.apiserver_url}")
    print(f"  kubectl:    export KUBECONFIG={launcher.layout.kubeconfig}")
    print(f"              alias kubectl={state.bin_dir}/kubectl")
    print(f"  logs:       {launcher.layout.logs}")
    net = state.network_octet
    if state.data_plane == "kube-proxy":
        print(f"  data plane: kube-proxy, pods in network namespaces, all in 10.{net}.0.0/16")
        print(
            f"  services:   type LoadBalancer answers on 10.{net}.0.<k>:<port>, see EXTERNAL-IP in `kubectl get svc`;"
        )
        print(f"              type NodePort on each Node's InternalIP (10.{net}.<node>.1:<nodePort>)")
    else:
        print("  data plane: the Python service proxy (kube-proxy needs root, iproute2 and nftables)")
        print(
            f"  services:   type LoadBalancer answers on 127.{net}.0.<k>:<port>, see EXTERNAL-IP in `kubectl get svc`;"
        )
        print("              type NodePort answers on 127.0.0.1:<nodePort>")
    print("  stop with:  pipeline-steps-sandbox down" + ("" if args.dir == default_root() else f" --dir {args.dir}"))
    return ExitCode.OK


def _status(launcher: Launcher, output: str) -> ExitCode:
    status = launcher.status()
    if output == "json":
        print(json.dumps(status, indent=2))
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return ExitCode.OK if status.get("running") else ExitCode.NOT_RUNNING


def run(args: argparse.Namespace) -> ExitCode:
    try:
        if args.verb == "build":
            print(build_binaries(progress=_say))
            return ExitCode.OK
        launcher = Launcher(args.dir, progress=_say)
        if args.verb == "up":
            return _up(launcher, args)
        if args.verb in ("restart", "stop", "start", "freeze", "thaw"):
            if args.verb in ("restart", "stop"):
                getattr(launcher, args.verb)(args.component, kill=args.kill)
            else:
                getattr(launcher, args.verb)(args.component)
            print(f"{args.component}: {args.verb} done")
            return ExitCode.OK
        if args.verb == "down":
            stopped = launcher.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return ExitCode.OK
        return _status(launcher, args.output)
    except SandboxError as exc:
        _say(f"error: {exc}")
        return ExitCode.FAILED
    except KeyboardInterrupt:
        # `up` stops what it had started before the interrupt reaches here.
        _say("interrupted")
        return ExitCode.FAILED


def main(argv: list[str] | None = None) -> int:
    return int(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
