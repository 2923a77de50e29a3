"""Zero downtime, measured: releases under a steady load, pipeline-steps next to the plain ways.

On one sandbox (its real data plane, kube-proxy, wherever it can run; the data plane is printed), the
scenarios of benchmarks/release_scenarios.py run back to back, each releasing the same app from the
same old image to the same new one while a load client (benchmarks/load_client.py) sends a steady
200 requests a second to the public Service, half of them on kept-alive connections, and records
every one. Per scenario: requests sent and failed, the longest time without a successful answer, the
old release's last answer after the switch (on a new connection / on any), whether old and new
answered interleaved, the release's own time; ratios to scenario 1 (pipeline-steps blue/green).

With `--sync-periods default,2s,5s` the whole matrix runs once per kube-proxy min sync period (a fresh
sandbox each): how each approach depends on how late the data plane follows the endpoints.

Output: the table on stdout, `releases.json` (figures, machine, data plane) and per scenario its
timeline as JSON and a PNG (answers per 100 ms by release, failures in red, the steps' starts as
vertical lines; needs matplotlib: pip install -e '.[bench]').

    .venv/bin/python -m benchmarks.releases [--scenarios 1,2,7] [--out DIR] [--rate 200]
                                            [--sync-periods default,2s,5s]     (from the repository root, as root)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.load_client import DEFAULT_RATE, LoadClient
from benchmarks.release_figures import Figures, Timeline, figures, markdown_table, table
from benchmarks.release_plot import INSTALL_HINT, matplotlib_missing, plot
from benchmarks.release_scenarios import (
    DOCUMENTED_SCALE_DOWN_DELAY,
    NEW_IMAGE,
    OLD_IMAGE,
    Env,
    Outcome,
    ReleaseFailed,
    Scenario,
    scenarios,
)
from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import Launcher, resolve_bin_dir


def _say(message: str) -> None:
    print(f"# {message}", flush=True)


def parse_sync_period(text: str) -> float | None:
    """`default` (kube-proxy's own), or a duration in seconds: `2s`, `500ms`, `1.5`."""
    text = text.strip()
    if text == "default":
        return None
    try:
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        return float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"sync period {text!r}: use `default` or a duration like 2s") from None


@dataclass
class Run:
    """One sandbox's results."""

    sync_period: str
    data_plane: str
    results: list[tuple[Scenario, Timeline, Figures]]


def _run_scenario(cluster: Cluster, kubectl: str, scenario: Scenario, root: Path, args: argparse.Namespace) -> Timeline:
    namespace = cluster.create_namespace(f"bench-s{scenario.key}")
    env = Env(cluster.kubeconfig, kubectl, namespace, root / f"s{scenario.key}", scale_down_delay=args.scale_down_delay)
    env.workdir.mkdir(parents=True, exist_ok=True)
    try:
        _say(f"scenario {scenario.key} ({scenario.title}): the old release")
        scenario.prepare(env)
        url = cluster.service_url(namespace, scenario.service)
        _say(f"scenario {scenario.key}: the new release under load on {url}")
        client = LoadClient(url, rate=args.rate)
        load_start = time.monotonic()
        client.start()
        try:
            time.sleep(args.lead)
            release_start = time.monotonic()
            try:
                outcome = scenario.release(env)
            except ReleaseFailed as exc:
                outcome = Outcome(False, detail=str(exc))
            release_end = time.monotonic()
            time.sleep(args.tail)
        finally:
            requests = client.stop()
        load_end = time.monotonic()
    finally:
        (env.workdir / "commands.log").write_text("\n".join(env.log))
        cluster.delete_namespace(namespace)
        _wait_gone(cluster, namespace)
    return Timeline(
        scenario=f"{scenario.key} {scenario.title}",
        requests=requests,
        marks=list(env.marks),
        load_start=load_start,
        load_end=load_end,
        release_start=release_start,
        release_end=release_end,
        old_image=OLD_IMAGE,
        new_image=NEW_IMAGE,
        switch_at=outcome.switch_at,
        release_ok=outcome.ok,
        notes=[outcome.detail] if outcome.detail else [],
    )


def _wait_gone(cluster: Cluster, namespace: str, timeout: float = 90.0) -> None:
    """The next scenario starts on a quiet machine: the last one's pods have stopped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.core.list_namespace(field_selector=f"metadata.name={namespace}").items:
            return
        time.sleep(0.5)
    _say(f"namespace {namespace} still there after {timeout:.0f}s; going on")


def _run_sandbox(bin_dir: Path, sync_period: str, chosen: list[Scenario], args: argparse.Namespace) -> Run:
    with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
        root = Path(tmp)
        launcher = Launcher(root / "sandbox", progress=_say)
        state = launcher.up(
            nodes=args.nodes, bin_dir=str(bin_dir), kube_proxy_min_sync_period=parse_sync_period(sync_period)
        )
        _say(f"data plane: {state.data_plane}; kube-proxy min sync period: {sync_period}")
        try:
            kubectl = str(bin_dir / "kubectl")
            cluster = Cluster.connect(launcher.layout.kubeconfig, launcher, kubectl)
            results = []
            for scenario in chosen:
                try:
                    timeline = _run_scenario(cluster, kubectl, scenario, root, args)
                except Exception as exc:  # one scenario's trouble does not end the others
                    _say(f"scenario {scenario.key} could not run: {type(exc).__name__}: {exc}")
                    continue
                result = figures(timeline)
                results.append((scenario, timeline, result))
                _write_scenario(args.out / _slug(sync_period), scenario, timeline, result, root)
            return Run(sync_period, state.data_plane, results)
        finally:
            launcher.down(quiet=True)


def _slug(sync_period: str) -> str:
    return f"sync-{sync_period}"


def _write_scenario(out: Path, scenario: Scenario, timeline: Timeline, result: Figures, root: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scenario-{scenario.key}.timeline.json").write_text(json.dumps(timeline.as_dict()))
    log = root / f"s{scenario.key}" / "commands.log"
    if log.exists():
        (out / f"scenario-{scenario.key}.commands.log").write_text(log.read_text())
    if not matplotlib_missing():
        plot(timeline, result, out / f"scenario-{scenario.key}.png")
    _say(
        f"scenario {scenario.key}: {result.sent} sent, {result.failed} failed {result.failures or ''}, "
        f"longest gap {result.longest_gap_s:.2f}s, release {result.release_s:.1f}s"
        + ("" if timeline.release_ok else f" RELEASE FAILED: {' '.join(timeline.notes)[:300]}")
    )


def machine() -> dict[str, Any]:
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _reference(rows: list[Figures]) -> Figures | None:
    return next((f for f in rows if f.scenario.startswith("1 ")), rows[0] if rows else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    keys = [s.key for s in scenarios()]
    parser.add_argument("--scenarios", default=",".join(keys), help="which, by number (default: all, %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("release-bench"), help="where to write (default %(default)s)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests a second (default %(default)s)")
    parser.add_argument(
        "--sync-periods",
        default="default",
        help="kube-proxy min sync periods, one sandbox each: `default` or durations (e.g. default,2s,5s)",
    )
    parser.add_argument(
        "--scale-down-delay",
        default=DOCUMENTED_SCALE_DOWN_DELAY,
        help="scenario 2's post_clean.scale_down_delay (default: the documented %(default)s)",
    )
    parser.add_argument("--lead", type=float, default=2.0, help="seconds of load before a release (default 2)")
    parser.add_argument(
        "--tail", type=float, default=10.0, help="seconds of load after it, while old pods go (default 10)"
    )
    parser.add_argument("--nodes", type=int, default=3, help="the sandbox's nodes (default 3)")
    args = parser.parse_args(argv)
    wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = sorted(set(wanted) - set(keys))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(keys)}")
    periods = [p.strip() for p in args.sync_periods.split(",") if p.strip()]
    for period in periods:
        try:
            parse_sync_period(period)
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
    if matplotlib_missing():
        _say(f"matplotlib is not installed: no PNG timelines; {INSTALL_HINT}")
    chosen = [s for s in scenarios() if s.key in wanted]
    bin_dir = resolve_bin_dir(None, progress=_say)
    args.out.mkdir(parents=True, exist_ok=True)

    runs = [_run_sandbox(bin_dir, period, chosen, args) for period in periods]

    report: dict[str, Any] = {"machine": machine(), "rate": args.rate, "runs": []}
    for run in runs:
        rows = [result for _, _, result in run.results]
        reference = _reference(rows)
        print(f"\nkube-proxy min sync period {run.sync_period}, data plane {run.data_plane}, {args.rate:.0f} req/s")
        print(table(rows, reference))
        report["runs"].append(
            {
                "sync_period": run.sync_period,
                "data_plane": run.data_plane,
                "markdown": markdown_table(rows, reference),
                "scenarios": [result.as_dict() for result in rows],
            }
        )
    (args.out / "releases.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.out / 'releases.json'} and per scenario its timeline (JSON, PNG) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
