"""`pipeline-steps sandbox up|down|status`: a real local Kubernetes for trying and testing releases."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline_steps_sandbox.launcher import Launcher, SandboxError
from pipeline_steps_sandbox.layout import default_root


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Kubernetes (etcd, control plane, node agent) for trying releases",
        description=__doc__,
    )
    verbs = parser.add_subparsers(dest="sandbox_verb", required=True)
    up = verbs.add_parser("up", help="start the sandbox and write its kubeconfig")
    up.add_argument("--nodes", type=int, default=3, help="how many Nodes the agent registers (default 3)")
    up.add_argument(
        "--bin-dir",
        help="directory of etcd and the Kubernetes binaries "
        "(default: $PIPELINE_STEPS_SANDBOX_BIN, else sandbox/build.sh)",
    )
    up.add_argument(
        "--proxy-delay",
        type=float,
        default=None,
        help="seconds the service proxy takes to act on an endpoint change (default 0.5), "
        "standing in for kube-proxy's sync",
    )
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the whole start-up")
    verbs.add_parser("down", help="stop everything the sandbox started")
    status = verbs.add_parser("status", help="show whether the sandbox runs and where")
    status.add_argument("--output", choices=("text", "json"), default="text")
    for sub in (up, status, verbs.choices["down"]):
        sub.add_argument(
            "--dir", type=Path, default=default_root(), help="the sandbox's directory (default: %(default)s)"
        )


def _say(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    launcher = Launcher(args.dir, progress=_say)
    try:
        if args.sandbox_verb == "up":
            state = launcher.up(
                nodes=args.nodes, bin_dir=args.bin_dir, timeout=args.timeout, proxy_delay=args.proxy_delay
            )
            print(f"Kubernetes v{state.kube_version} sandbox is up in {state.startup_seconds['total']:.1f}s.")
            print(f"  nodes:      {', '.join(state.nodes)}")
            print(f"  apiserver:  {state.apiserver_url}")
            print(f"  kubectl:    export KUBECONFIG={launcher.layout.kubeconfig}")
            print(f"              alias kubectl={state.bin_dir}/kubectl")
            print(f"  logs:       {launcher.layout.logs}")
            print(
                "  services:   type LoadBalancer answers on 127.<net>.0.<k>:<port>, see EXTERNAL-IP in "
                "`kubectl get svc`;"
            )
            print("              type NodePort answers on 127.0.0.1:<nodePort>")
            print(
                "  stop with:  pipeline-steps sandbox down"
                + ("" if args.dir == default_root() else f" --dir {args.dir}")
            )
            return 0
        if args.sandbox_verb == "down":
            stopped = launcher.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return 0
        status = launcher.status()
        if args.output == "json":
            print(json.dumps(status, indent=2))
        else:
            for key, value in status.items():
                print(f"{key}: {value}")
        return 0 if status.get("running") else 3
    except SandboxError as exc:
        _say(f"error: {exc}")
        return 2
