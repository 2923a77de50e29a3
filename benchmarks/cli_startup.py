"""How long `pipeline-steps --help` and `--version` take to answer, against the 0.2 s target.

Runs the installed command (by default the one on PATH; `--venv DIR` for a virtualenv made from the wheel,
as tests/install makes one) several times each, and prints the median beside the interpreter's own start-up
(`python -c pass`, the floor no code of ours can go under) and the ratio to the target. Then runs `--help`
once under `python -X importtime` and prints the imports that cost the most. Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.cli_startup [--runs 15] [--venv DIR | --executable PATH] [--top 12]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_S = 0.2


def _interpreter(executable: Path) -> Path:
    """The Python a console script runs with: its `#!` line."""
    first_line = executable.read_text(errors="replace").splitlines()[0]
    if not first_line.startswith("#!"):
        raise SystemExit(f"{executable} is not a script with a #! line")
    return Path(first_line[2:].strip().split()[0])


def _seconds(command: list[str], runs: int) -> list[float] | str:
    """Wall-clock seconds of each run; or, when the command fails, the last line it printed."""
    first = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if first.returncode != 0:  # also warms the page cache
        return f"exit {first.returncode}: {(first.stderr.strip().splitlines() or [''])[-1]}"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return times


@dataclass(frozen=True)
class ImportCost:
    module: str
    depth: int  #: 1: imported by the script itself; 2: by one of those; ...
    self_us: int
    cumulative_us: int


def import_costs(importtime_output: str) -> list[ImportCost]:
    """The lines of `python -X importtime`: `import time: self [us] | cumulative | <indent>module`."""
    costs = []
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) + 1) // 2
        costs.append(ImportCost(name.strip(), depth, int(self_us), int(cumulative_us)))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--executable", type=Path, help="the pipeline-steps script (default: the one on PATH)")
    where.add_argument("--venv", type=Path, help="a virtualenv holding pipeline-steps: use its bin/pipeline-steps")
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--top", type=int, default=12, help="how many of the costliest imports to list (default 12)")
    args = parser.parse_args()

    found = args.venv / "bin" / "pipeline-steps" if args.venv else args.executable or shutil.which("pipeline-steps")
    if found is None or not Path(found).is_file():
        sys.exit("no pipeline-steps found: pass --executable PATH or --venv DIR")
    executable = Path(found).absolute()
    python = _interpreter(executable)
    print(f"# {executable}\n# interpreter {python}, {args.runs} runs each")

    commands = {
        "python -c pass": [str(python), "-c", "pass"],
        "pipeline-steps --version": [str(executable), "--version"],
        "pipeline-steps --help": [str(executable), "--help"],
    }
    medians = {}
    print(f"\n{'command':<28}{'median s':>10}{'min s':>8}{'/ target':>10}{'- python':>10}")
    for label, command in commands.items():
        times = _seconds(command, args.runs)
        if isinstance(times, str):
            print(f"{label:<28}fails, {times}")
            continue
        medians[label] = statistics.median(times)
        floor = medians.get("python -c pass")
        over_python = "" if label.startswith("python") or floor is None else f"{medians[label] - floor:.3f}"
        ratio = medians[label] / TARGET_S
        print(f"{label:<28}{medians[label]:>10.3f}{min(times):>8.3f}{ratio:>10.2f}{over_python:>10}")
    print(f"(target {TARGET_S} s: a ratio under 1.00 meets it)")

    completed = subprocess.run(
        [str(python), "-X", "importtime", str(executable), "--help"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    costs = import_costs(completed.stderr)
    total_us = sum(cost.self_us for cost in costs)
    print(f"\nimports of `pipeline-steps --help`: {len(costs)} modules, {total_us / 1e6:.3f} s in all")
    print(f"costliest, cumulative (self + what each imports; nested ones indented):\n{'s':>7}{'self s':>8}  module")
    for cost in sorted(costs, key=lambda c: c.cumulative_us, reverse=True)[: args.top]:
        print(f"{cost.cumulative_us / 1e6:>7.3f}{cost.self_us / 1e6:>8.3f}  {'  ' * (cost.depth - 1)}{cost.module}")


if __name__ == "__main__":
    main()
