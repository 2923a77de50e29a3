"""The release benchmark's figures and table, computed from a timeline written out by hand."""

from __future__ import annotations

import json

from benchmarks.load_client import Request
from benchmarks.release_figures import Figures, Mark, Timeline, bins, figures, longest_gap, markdown_table, table

OLD, NEW = "web:1", "web:2"


def _ok(at: float, image: str, *, reused: bool = False, connection: int = 0) -> Request:
    role = "blue" if image == OLD else "green"
    return Request(at, 0.001, reused, connection, reused, status=200, role=role, image=image, pod=f"p-{role}")


def _failed(at: float, error: str = "refused") -> Request:
    return Request(at, 0.001, False, 0, False, error=error)


def _timeline(requests: list[Request], switch_at: float | None = 3.0) -> Timeline:
    return Timeline(
        scenario="bg",
        requests=requests,
        marks=[Mark(1.0, "deploy"), Mark(3.0, "switch")],
        load_start=0.0,
        load_end=10.0,
        release_start=1.0,
        release_end=6.0,
        old_image=OLD,
        new_image=NEW,
        switch_at=switch_at,
    )


def test_a_clean_blue_green_switch() -> None:
    requests = [_ok(t / 2, OLD) for t in range(0, 7)]  # 0.0 .. 3.0, old
    requests += [_ok(3.5, OLD, reused=True, connection=1)]  # a kept-alive connection, after the switch
    requests += [_ok(t / 2, NEW) for t in range(8, 21)]  # 4.0 .. 10.0, new
    f = figures(_timeline(requests))
    assert f.sent == len(requests) and f.failed == 0 and f.failures == {}
    assert f.rate == len(requests) / 10.0
    assert f.longest_gap_s == 0.5
    assert f.release_s == 5.0
    assert f.last_old_after_switch_s == 0.5  # the kept-alive answer at 3.5
    assert f.last_old_new_connection_after_switch_s == 0.0  # the last new connection to old was at 3.0
    assert f.old_on_kept_connections_after_switch == 1
    assert f.new_before_switch == 0
    assert not f.interleaved
    assert f.last_old_after_start_s == 2.5


def test_failures_gaps_and_interleaving() -> None:
    requests = [_ok(0.0, OLD), _ok(2.0, NEW), _failed(2.5), _failed(3.0, "reset")]
    requests += [Request(3.5, 0.001, False, 0, False, status=503), _ok(4.0, OLD), _ok(9.0, NEW)]
    f = figures(_timeline(requests))
    assert f.failed == 3
    assert f.failures == {"503": 1, "refused": 1, "reset": 1}
    assert f.longest_gap_s == 5.0  # 4.0 to 9.0: failures are no answers
    assert f.new_before_switch == 1  # the new image answered at 2.0, before the switch at 3.0
    assert f.interleaved  # old answered a new connection at 4.0, after new at 2.0
    assert f.last_old_after_switch_s == 1.0


def test_without_a_switch_there_are_no_switch_figures() -> None:
    f = figures(_timeline([_ok(1.0, OLD), _ok(2.0, NEW)], switch_at=None))
    assert f.last_old_after_switch_s is None and f.last_old_new_connection_after_switch_s is None
    assert f.new_before_switch == 0 and f.old_on_kept_connections_after_switch == 0
    assert f.longest_gap_s == 8.0  # from the last answer at 2.0 to the load's end at 10.0


def test_longest_gap_counts_the_load_edges() -> None:
    assert longest_gap([], 0.0, 4.0) == 4.0
    assert longest_gap([3.0], 0.0, 4.0) == 3.0
    assert longest_gap([1.0, 2.0, 3.0], 0.0, 4.0) == 1.0
    assert longest_gap([-1.0, 5.0], 0.0, 4.0) == 4.0  # outside the load: not counted


def test_bins_count_answers_per_100ms_by_release() -> None:
    requests = [_ok(0.01, OLD), _ok(0.05, OLD, reused=True), _ok(0.15, NEW), _failed(0.25)]
    timeline = _timeline(requests)
    series = bins(timeline)
    assert len(series["old"]) == len(series["new"]) == len(series["failed"]) == 101
    assert series["old"][:3] == [2, 0, 0]
    assert series["new"][:3] == [0, 1, 0]
    assert series["failed"][:3] == [0, 0, 1]
    assert series["old kept-alive"][:3] == [1, 0, 0]


def test_a_timeline_survives_json() -> None:
    timeline = _timeline([_ok(1.0, OLD), _failed(2.0)])
    assert Timeline.from_dict(json.loads(json.dumps(timeline.as_dict()))) == timeline


def _row(name: str, failed: int, gap: float, release: float, switch: float | None) -> Figures:
    return Figures(
        scenario=name,
        sent=1000,
        failed=failed,
        failures={"refused": failed} if failed else {},
        rate=200.0,
        longest_gap_s=gap,
        release_s=release,
        release_ok=True,
        last_old_after_switch_s=switch,
        last_old_new_connection_after_switch_s=switch,
        old_on_kept_connections_after_switch=0,
        new_before_switch=0,
        interleaved=switch is None,
        last_old_after_start_s=1.0,
    )


def test_table_shows_ratios_to_the_first_scenario() -> None:
    rows = [_row("1 bluegreen keep", 0, 0.02, 10.0, 0.5), _row("4 recreate", 120, 3.0, 5.0, None)]
    lines = table(rows).splitlines()
    assert lines[0].startswith("scenario") and "release s" in lines[0]
    first, second = lines[1].split(), lines[2].split()
    assert first[:4] == ["1", "bluegreen", "keep", "1000"]
    assert first[-2:] == ["10.0", "1.0"]
    assert second[-2:] == ["5.0", "0.5"]  # release time: half of blue/green's
    assert "150.0" in second  # the longest gap: 3.0 s against 0.02 s
    assert "yes" in second and "no" in first
    markdown = markdown_table(rows).splitlines()
    assert markdown[2].startswith("| 1 bluegreen keep | 1000 | 0 | 0.02 | 1.0 | 0.50 / 0.50 | no | 10.0 | 1.0 |")
    assert "| 120 (refused 120) |" in markdown[3]


def test_ratio_to_a_zero_reference() -> None:
    rows = [_row("1", 0, 0.0, 10.0, 0.5), _row("2", 5, 1.0, 10.0, 0.5)]
    assert table(rows).splitlines()[2].split()[4] == "inf"
