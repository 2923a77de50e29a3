"""The approval record's name and reading a decision from it: pure, no cluster.

The cluster round trips (open, decide, close, wait) are in tests/e2e/test_approvals_record.py.
"""

from __future__ import annotations

from pipeline_steps import approvals


def test_record_is_named_after_the_app() -> None:
    assert approvals.record_name("web") == "pipeline-steps-web"


def test_decision_of_reads_nothing_from_an_empty_or_foreign_record() -> None:
    assert approvals.decision_of(None) is None
    assert approvals.decision_of({"metadata": {"annotations": {"other": "x"}}}) is None
    assert approvals.decision_of({"metadata": {}}) is None
