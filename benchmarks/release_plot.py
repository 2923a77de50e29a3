"""A release's timeline as a PNG: answers per 100 ms by release, failures in red, the steps' starts as lines.

matplotlib is an optional dependency (the `bench` extra); without it the benchmark still prints and
writes its JSON, and says how to install it.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.release_figures import BIN_S, Figures, Timeline, bins

INSTALL_HINT = "pip install -e '.[bench]'  (matplotlib, for the PNG timelines)"
_COLOURS = {"old": "tab:blue", "new": "tab:green", "failed": "tab:red"}


def matplotlib_missing() -> bool:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return True
    return False


def plot(timeline: Timeline, result: Figures, path: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt  # noqa: PLC0415

    series = bins(timeline)
    start = timeline.load_start
    xs = [i * BIN_S for i in range(len(series["old"]))]
    figure, axes = plt.subplots(figsize=(11, 4.6), dpi=100)
    labels = {
        "old": f"old ({timeline.old_image})",
        "old kept-alive": "old, on kept-alive connections",
        "new": f"new ({timeline.new_image})",
    }
    for key, counts in series.items():
        if key != "failed" and not any(counts):
            continue
        if key == "failed":
            if any(counts):
                axes.bar(xs, counts, width=BIN_S, align="edge", color=_COLOURS["failed"], label="failed", zorder=3)
            continue
        style = ":" if key == "old kept-alive" else "-"
        colour = _COLOURS.get(key.split()[0], "tab:gray")
        axes.step(xs, counts, where="post", color=colour, linestyle=style, label=labels.get(key, key))
    top = max((max(c) for c in series.values()), default=1) or 1
    for mark in timeline.marks:
        x = mark.at - start
        axes.axvline(x, color="0.35", linestyle="--", linewidth=0.8)
        axes.text(x, top * 1.02, f" {mark.label}", rotation=90, va="bottom", ha="left", fontsize=7, color="0.25")
    for edge, name in ((timeline.release_start, "release starts"), (timeline.release_end, "release ends")):
        axes.axvline(edge - start, color="black", linewidth=1.2)
        axes.text(edge - start, top * 1.42, f" {name}", ha="left", va="top", fontsize=7)
    axes.set_xlim(0, timeline.load_end - start)
    axes.set_ylim(0, top * 1.45)
    axes.set_xlabel("seconds from the load's start")
    axes.set_ylabel(f"answers per {int(BIN_S * 1000)} ms")
    title = (
        f"{timeline.scenario}: {result.sent} requests, {result.failed} failed, "
        f"longest gap {result.longest_gap_s:.2f} s, release {result.release_s:.1f} s"
    )
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, ncol=4, frameon=False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
