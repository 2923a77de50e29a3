"""Figures of one release under load, from the recorded timeline: pure, so tests feed it a known one.

A timeline is every request the load client sent (benchmarks/load_client.py), the moments the release's
steps began (marks), and which image is the old release and which the new. "Old" and "new" are told by
image, not role: a rolling release has one role, a blue/green one two, and the figures compare both.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.load_client import Request

#: The width of a timeline's bins, in seconds: answers per 100 ms.
BIN_S = 0.1


@dataclass(frozen=True)
class Mark:
    """A moment of the release: a step or command starting (`label`), at time.monotonic() `at`."""

    at: float
    label: str


@dataclass(frozen=True)
class Timeline:
    scenario: str
    requests: list[Request]
    marks: list[Mark]
    #: The load's own start and end (time.monotonic()).
    load_start: float
    load_end: float
    release_start: float
    release_end: float
    old_image: str
    new_image: str
    #: When the switch was called (blue/green: the switch step or the selector patch); None: no switch.
    switch_at: float | None = None
    release_ok: bool = True
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "load_start": self.load_start,
            "load_end": self.load_end,
            "release_start": self.release_start,
            "release_end": self.release_end,
            "old_image": self.old_image,
            "new_image": self.new_image,
            "switch_at": self.switch_at,
            "release_ok": self.release_ok,
            "notes": self.notes,
            "marks": [{"at": m.at, "label": m.label} for m in self.marks],
            "requests": [r.as_dict() for r in self.requests],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        fields = {k: v for k, v in data.items() if k not in ("marks", "requests")}
        return cls(
            **fields,
            marks=[Mark(m["at"], m["label"]) for m in data["marks"]],
            requests=[Request.from_dict(r) for r in data["requests"]],
        )


@dataclass(frozen=True)
class Figures:
    scenario: str
    sent: int
    failed: int
    #: Failures by kind: the error's name, or the HTTP status.
    failures: dict[str, int]
    rate: float  #: requests sent a second, over the load's whole run
    longest_gap_s: float  #: the longest time without a successful answer (by the requests' start)
    release_s: float
    release_ok: bool
    #: From the switch call to the last answer from the old image: on any connection / on a new one.
    last_old_after_switch_s: float | None
    last_old_new_connection_after_switch_s: float | None
    #: Answers from the old image after the switch on connections kept alive from before it.
    old_on_kept_connections_after_switch: int
    #: Answers from the new image sent before the switch was called (blue/green: must be 0).
    new_before_switch: int
    #: After the first answer from the new image, an answer from the old one on a new connection.
    interleaved: bool
    #: From the release's start to the last answer from the old image (any connection).
    last_old_after_start_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def figures(timeline: Timeline) -> Figures:
    t = timeline
    requests = sorted(t.requests, key=lambda r: r.started)
    failed = [r for r in requests if r.failed]
    kinds = Counter(r.error or str(r.status) for r in failed)
    old = [r for r in requests if r.answered and r.image == t.old_image]
    new = [r for r in requests if r.answered and r.image == t.new_image]
    duration = max(t.load_end - t.load_start, 1e-9)

    last_old_after_switch = last_old_new_conn = None
    old_kept = new_before = 0
    if t.switch_at is not None:
        switch = t.switch_at
        last_old_after_switch = max((r.started for r in old), default=switch) - switch
        last_old_new_conn = max((r.started for r in old if not r.reused), default=switch) - switch
        old_kept = sum(1 for r in old if r.started >= switch and r.reused)
        new_before = sum(1 for r in new if r.started < switch)
    first_new = min((r.started for r in new), default=None)
    interleaved = first_new is not None and any(r.started > first_new and not r.reused for r in old)
    last_old = max((r.started for r in old), default=None)

    return Figures(
        scenario=t.scenario,
        sent=len(requests),
        failed=len(failed),
        failures=dict(sorted(kinds.items())),
        rate=len(requests) / duration,
        longest_gap_s=longest_gap([r.started for r in requests if r.answered], t.load_start, t.load_end),
        release_s=t.release_end - t.release_start,
        release_ok=t.release_ok,
        last_old_after_switch_s=last_old_after_switch,
        last_old_new_connection_after_switch_s=last_old_new_conn,
        old_on_kept_connections_after_switch=old_kept,
        new_before_switch=new_before,
        interleaved=interleaved,
        last_old_after_start_s=None if last_old is None else last_old - t.release_start,
    )


def longest_gap(successes: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] in which no successful request started."""
    moments = [start, *sorted(s for s in successes if start <= s <= end), end]
    return max(b - a for a, b in itertools.pairwise(moments))


def bins(timeline: Timeline, width: float = BIN_S) -> dict[str, list[int]]:
    """Answers per bin of `width` seconds from the load's start, by who answered ("old", "new", another
    image by name) and "failed"; every list has one count per bin. "old kept-alive" counts the old image's
    answers on connections that had carried a request before (a part of "old")."""
    count = max(1, int((timeline.load_end - timeline.load_start) / width) + 1)
    series: dict[str, list[int]] = {
        "old": [0] * count,
        "new": [0] * count,
        "failed": [0] * count,
        "old kept-alive": [0] * count,
    }
    for r in timeline.requests:
        index = min(count - 1, max(0, int((r.started - timeline.load_start) / width)))
        if r.answered and r.image == timeline.old_image and r.reused:
            series["old kept-alive"][index] += 1
        if r.failed:
            key = "failed"
        elif r.image == timeline.old_image:
            key = "old"
        elif r.image == timeline.new_image:
            key = "new"
        else:
            key = f"other: {r.image or r.status}"
        series.setdefault(key, [0] * count)[index] += 1
    return series


# -- the table -------------------------------------------------------------------------------------------

COLUMNS = (
    ("scenario", 50),
    ("sent", 7),
    ("failed", 7),
    ("gap s", 7),
    ("x", 6),
    ("old after switch s: new conn / any", 36),
    ("interleaved", 12),
    ("release s", 10),
    ("x", 6),
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratio(value: float, reference: float) -> str:
    if reference <= 0:
        return "-" if value <= 0 else "inf"
    return f"{value / reference:.1f}"


def table(rows: list[Figures], reference: Figures | None = None) -> str:
    """The figures side by side; `x` columns are ratios to `reference` (our blue/green, scenario 1)."""
    reference = reference or (rows[0] if rows else None)
    lines = ["".join(f"{name:<{width}}" if i == 0 else f"{name:>{width}}" for i, (name, width) in enumerate(COLUMNS))]
    for f in rows:
        ref = reference or f
        old = (
            "-"
            if f.last_old_after_switch_s is None
            else f"{_seconds(f.last_old_new_connection_after_switch_s)} / {_seconds(f.last_old_after_switch_s)}"
        )
        cells = [
            f.scenario + ("" if f.release_ok else " (release failed)"),
            str(f.sent),
            str(f.failed),
            f"{f.longest_gap_s:.2f}",
            _ratio(f.longest_gap_s, ref.longest_gap_s),
            old,
            "yes" if f.interleaved else "no",
            f"{f.release_s:.1f}",
            _ratio(f.release_s, ref.release_s),
        ]
        lines.append(
            "".join(
                f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    return "\n".join(lines)


def markdown_table(rows: list[Figures], reference: Figures | None = None) -> str:
    """The same figures as a Markdown table, for the README."""
    reference = reference or (rows[0] if rows else None)
    head = (
        "| scenario | sent | failed | longest gap (s) | x | last old answer after the switch (s): new connection / any "
        "| interleaved | release (s) | x |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for f in rows:
        ref = reference or f
        old = (
            "-"
            if f.last_old_after_switch_s is None
            else f"{_seconds(f.last_old_new_connection_after_switch_s)} / {_seconds(f.last_old_after_switch_s)}"
        )
        failures = ", ".join(f"{k} {v}" for k, v in f.failures.items())
        cells = [
            f.scenario + ("" if f.release_ok else " (release failed)"),
            str(f.sent),
            f"{f.failed}" + (f" ({failures})" if failures else ""),
            f"{f.longest_gap_s:.2f}",
            _ratio(f.longest_gap_s, ref.longest_gap_s),
            old,
            "yes" if f.interleaved else "no",
            f"{f.release_s:.1f}",
            _ratio(f.release_s, ref.release_s),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
