"""How long a blue/green switch takes to reach the data plane, next to what the switch step reports.

The switch step is done when the public Service's EndpointSlices list only ready endpoints of the new
role: that is what kube-proxy (here the sandbox's proxy) follows, some time later. This script releases
the test app on a sandbox, then switches between the two roles several times under a steady load
(`pipeline-steps rollback`, which uses the same switch), and prints per switch:

- endpoints: the seconds the step waited for the EndpointSlices (what it reports),
- first new / last old: when the first answer from the new role and the last from the old one were
  sent, counted from the moment the command returned (negative: before it returned),
- failed: requests that failed during the switch (the public endpoint must never be without backends).

Medians are printed for a sandbox whose proxy acts at once and one with kube-proxy-like lag (0.5 s),
side by side in one run, with their ratio. Figures vary with the machine's load: read the comparison.

    .venv/bin/python -m benchmarks.switch_propagation [--switches 6]     (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import Launcher, resolve_bin_dir
from tests.support.release import Workspace
from tests.support.traffic import Load

NAMESPACE = "bench"
V1, V2 = "registry.local/web:v1", "registry.local/web:v2"


@dataclass(frozen=True)
class Switch:
    endpoints_s: float
    first_new_s: float
    last_old_s: float
    failed: int


def _measure(workspace: Workspace, public: str, to_role: str, from_role: str) -> Switch:
    with Load(public, workers=4) as load:
        time.sleep(1.0)
        started = time.monotonic()
        result = workspace.cli("rollback", "-c", str(workspace.config), "--output", "json")
        returned = time.monotonic()
        time.sleep(2.0)
    if result.code != 0:
        raise SystemExit(f"rollback failed: {result}")
    after = [a for a in load.answers if a.at >= started]
    first_new = min((a.at for a in after if a.role == to_role), default=float("nan"))
    last_old = max((a.at for a in after if a.role == from_role), default=started)
    summary = json.loads(result.stdout)["rolled_back"]  # "... in 0.12s"
    endpoints = float(summary.rsplit(" in ", 1)[1].rstrip("s"))
    return Switch(endpoints, first_new - returned, last_old - returned, len([a for a in after if not a.ok]))


def _run_on(bin_dir: Path, proxy_delay: float, switches: int) -> list[Switch]:
    with tempfile.TemporaryDirectory(prefix="switch-bench-") as root:
        launcher = Launcher(Path(root) / "sandbox")
        launcher.up(nodes=3, bin_dir=str(bin_dir), proxy_delay=proxy_delay)
        try:
            cluster = Cluster.connect(launcher.layout.kubeconfig, launcher, str(bin_dir / "kubectl"))
            workspace = Workspace.create(Path(root), "bluegreen", cluster.kubeconfig, NAMESPACE=NAMESPACE)
            for image in (V1, V2):
                released = workspace.run("--image", image)
                if released.code != 0:
                    raise SystemExit(f"release of {image} failed: {released}")
            public = cluster.service_url(NAMESPACE, "web")
            results, active, idle = [], "green", "blue"
            for _ in range(switches):
                results.append(_measure(workspace, public, idle, active))
                active, idle = idle, active
            return results
        finally:
            launcher.down(quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--switches", type=int, default=6, help="switches per sandbox (default 6)")
    args = parser.parse_args()
    bin_dir = resolve_bin_dir(None, progress=lambda message: print(f"# {message}"))

    runs = {delay: _run_on(bin_dir, delay, args.switches) for delay in (0.0, 0.5)}
    print(f"\nblue/green switch, {args.switches} switches per sandbox; seconds, median, from the command's return")
    print(f"{'proxy delay':<13}{'endpoints':>10}{'first new':>11}{'last old':>10}{'failed':>8}")
    medians = {}
    for delay, switches in runs.items():
        medians[delay] = {
            "endpoints": statistics.median(s.endpoints_s for s in switches),
            "first_new": statistics.median(s.first_new_s for s in switches),
            "last_old": statistics.median(s.last_old_s for s in switches),
        }
        failed = sum(s.failed for s in switches)
        m = medians[delay]
        print(f"{delay:<13.1f}{m['endpoints']:>10.3f}{m['first_new']:>11.3f}{m['last_old']:>10.3f}{failed:>8}")
    lag = medians[0.5]["last_old"] - medians[0.0]["last_old"]
    print(f"\nlast old answer moves by {lag:+.3f}s with a 0.5s proxy delay (ratio to the delay: {lag / 0.5:.2f})")


if __name__ == "__main__":
    main()
