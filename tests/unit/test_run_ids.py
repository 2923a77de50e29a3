"""A run's id: the release lock tells runs apart by it, so two runs never share one by chance."""

from __future__ import annotations

import re

from pipeline_steps.session import new_run_id


def test_runs_started_in_the_same_second_get_different_ids() -> None:
    ids = {new_run_id("web") for _ in range(50)}

    assert len(ids) == 50
    assert all(re.fullmatch(r"web-\d{8}-\d{6}-[0-9a-f]{6}", run_id) for run_id in ids), ids
