"""How long the sandbox takes to start and stop with its binaries cached, per phase.

Starts and stops the sandbox several times, alternating a 1-node and a 3-node sandbox so that both
see the same machine load, and prints each phase's median, its share of the start-up, and the
3-node/1-node ratio. The machines this runs on are shared: read the ratios, not one absolute figure.

    .venv/bin/python -m benchmarks.sandbox_startup [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pipeline_steps_sandbox.launcher import Launcher, resolve_bin_dir


def _one_start(bin_dir: Path, nodes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as root:
        launcher = Launcher(Path(root) / "sandbox")
        state = launcher.up(nodes=nodes, bin_dir=str(bin_dir))
        stop_started = time.monotonic()
        launcher.down(quiet=True)
        return {**state.startup_seconds, "down": round(time.monotonic() - stop_started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="starts per node count (default 3)")
    args = parser.parse_args()

    bin_dir = resolve_bin_dir(None, progress=lambda message: print(f"# {message}"))
    samples: dict[int, list[dict[str, float]]] = {1: [], 3: []}
    for run in range(args.runs):
        for nodes, runs in samples.items():
            figures = _one_start(bin_dir, nodes)
            runs.append(figures)
            print(f"# run {run + 1}, {nodes} node(s): up {figures['total']:.2f}s, down {figures['down']:.2f}s")

    phases = list(samples[3][0])
    print(f"\nsandbox start-up, binaries cached, median of {args.runs} runs (seconds)")
    print(f"{'phase':<26}{'1 node':>9}{'3 nodes':>9}{'3/1':>7}{'share (3)':>11}")
    total_3 = statistics.median(s["total"] for s in samples[3])
    for phase in phases:
        one = statistics.median(s.get(phase, 0.0) for s in samples[1])
        three = statistics.median(s.get(phase, 0.0) for s in samples[3])
        ratio = f"{three / one:.2f}" if one else "-"
        share = "" if phase in ("total", "down") else f"{three / total_3:.0%}"
        print(f"{phase:<26}{one:>9.2f}{three:>9.2f}{ratio:>7}{share:>11}")


if __name__ == "__main__":
    main()
