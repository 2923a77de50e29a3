"""The pure parts of approvals: reading a decision from the record's annotations, and why one is refused.

The cluster round trips (open, decide, close, wait) are in tests/e2e/test_approvals_record.py, on the sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps import approvals
from pipeline_steps.approvals import COMMENT, DECIDED_AT, DECIDED_BY, DECISION, RUN_ID, Decision, decision_of
from pipeline_steps.errors import ConfigError


def record(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "pipeline-steps-web", "annotations": annotations}}


# -- decision_of --------------------------------------------------------------------------------------


def test_annotation_names_carry_the_prefix() -> None:
    assert (RUN_ID, DECISION, DECIDED_BY, DECIDED_AT, COMMENT) == (
        "pipeline-steps.dev/run-id", "pipeline-steps.dev/decision", "pipeline-steps.dev/decided-by",
        "pipeline-steps.dev/decided-at", "pipeline-steps.dev/comment",
    )  # fmt: skip


def test_a_full_decision_is_read_field_by_field() -> None:
    found = decision_of(
        record(**{RUN_ID: "run-1", DECISION: "rejected", DECIDED_BY: "bob", DECIDED_AT: "2024-05-01T10:00:00Z",
                  COMMENT: "error rate up"})
    )  # fmt: skip
    assert found == Decision("run-1", "rejected", "bob", "2024-05-01T10:00:00Z", "error rate up")


def test_a_record_with_only_a_run_id_is_awaiting() -> None:
    assert decision_of(record(**{RUN_ID: "run-1"})) == Decision("run-1", "awaiting", "", "", "")


def test_unrelated_annotations_are_ignored() -> None:
    found = decision_of(record(**{RUN_ID: "run-3", DECISION: "approved", "team": "payments"}))
    assert found == Decision("run-3", "approved")


@pytest.mark.parametrize(
    "found",
    [
        None,
        {},
        {"metadata": None},
        {"metadata": {}},
        {"metadata": {"annotations": None}},
        record(**{DECISION: "approved", DECIDED_BY: "alice"}),  # a decision, but for no run
    ],
)
def test_no_decision_without_a_run_id(found: dict[str, Any] | None) -> None:
    assert decision_of(found) is None


def test_an_empty_run_id_is_still_a_request() -> None:
    # The annotation's presence, not its value, marks the record as a request.
    assert decision_of(record(**{RUN_ID: ""})) == Decision("", "awaiting")


# -- why a decision is refused ------------------------------------------------------------------------


def refusal(current: Decision | None, run_id: str = "run-1") -> ConfigError | None:
    return approvals._refusal(current, "web", "shop", run_id)


def test_the_waiting_run_may_be_decided() -> None:
    assert refusal(Decision("run-1", "awaiting")) is None


def test_nothing_waiting_names_app_and_namespace() -> None:
    problem = refusal(None)
    assert problem is not None
    assert problem.message == "no release of web is waiting for a decision in namespace shop"
    assert problem.hint == "check --namespace and the config; confirm must be running in `wait` mode"


def test_run_id_mismatch_names_both_runs_and_the_flag() -> None:
    problem = refusal(Decision("run-2", "awaiting"), run_id="run-1")
    assert problem is not None
    assert problem.field == "--run-id"
    assert str(problem) == (
        "--run-id: the release waiting for a decision is run run-2, not run-1 "
        "(decide the run that is waiting, with its run id)"
    )


def test_run_id_mismatch_comes_before_an_earlier_decision() -> None:
    # Another run's finished record must not be reported as "already approved" for this run.
    problem = refusal(Decision("run-2", "approved", "alice", "2024-05-01T10:00:00Z"), run_id="run-1")
    assert problem is not None
    assert problem.field == "--run-id"


@pytest.mark.parametrize("earlier", ["approved", "rejected", "cancelled"])
def test_a_second_decision_says_who_decided_when(earlier: str) -> None:
    problem = refusal(Decision("run-1", earlier, "bob", "2024-05-01T10:00:00Z"))
    assert problem is not None
    assert problem.message == f"run run-1 was already {earlier} by bob at 2024-05-01T10:00:00Z"


# -- allowed approvers: checked before the cluster is touched -----------------------------------------


class Untouchable:
    """A cluster that fails the test if the approver check lets anything through to it."""

    namespace = "shop"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the cluster was used ({name}) before the approver was checked")


@pytest.mark.parametrize("approver", ["mallory", "Alice", "alice "])
def test_an_approver_not_listed_is_refused(approver: str) -> None:
    with pytest.raises(ConfigError) as caught:
        approvals.record_decision(
            Untouchable(),  # type: ignore[arg-type]
            "web",
            run_id="run-1",
            decision="approved",
            approver=approver,
            allowed=("alice", "bob"),
        )
    assert caught.value.field == "confirm.approvers"
    assert str(caught.value) == (
        f"confirm.approvers: {approver!r} may not decide releases of web (allowed: alice, bob; pass --approver NAME)"
    )


# -- annotation keys as JSON pointers (the conditional patch addresses them) --------------------------


@pytest.mark.parametrize(
    ("key", "pointer"),
    [
        ("pipeline-steps.dev/run-id", "/metadata/annotations/pipeline-steps.dev~1run-id"),
        ("a~b/c", "/metadata/annotations/a~0b~1c"),  # RFC 6901: ~ first, so "~1" is not re-escaped
        ("plain", "/metadata/annotations/plain"),
    ],
)
def test_json_pointer_escapes_slash_and_tilde(key: str, pointer: str) -> None:
    assert approvals._json_pointer(key) == pointer


# -- whether a decision lets the release go on (confirm and switch decide alike) -------------------------------


def test_an_approval_by_a_listed_approver_or_the_timeout_default_is_honoured() -> None:
    allowed = ("alice",)
    assert approvals.honoured(Decision("r1", "approved", by="alice"), allowed)
    assert approvals.honoured(Decision("r1", "approved", by=approvals.TIMEOUT_DECIDER), allowed)
    assert approvals.honoured(Decision("r1", "approved", by="anyone"), ())
    assert not approvals.honoured(Decision("r1", "approved", by="mallory"), allowed)
    assert not approvals.honoured(Decision("r1", "rejected", by="alice"), allowed)


@pytest.mark.parametrize(
    ("decision", "refusal"),
    [
        (Decision("r1", "rejected", by="bob"), "run r1 was rejected at confirm by bob"),
        (Decision("r1", approvals.CANCELLED, by="pipeline-steps"), "run r1 was cancelled at confirm by pipeline-steps"),
        (Decision("r1", approvals.AWAITING), "run r1 still awaits a decision at confirm"),
        (Decision("r1", "approved", by="mallory"), "run r1 was approved by mallory, who is not in confirm.approvers"),
    ],
)
def test_switch_is_blocked_by_any_decision_of_this_run_but_an_honoured_approval(
    decision: Decision, refusal: str
) -> None:
    assert approvals.blocks_switch(decision, "r1", ("alice",)) == refusal


def test_switch_is_not_blocked_by_another_runs_record_or_by_none() -> None:
    assert approvals.blocks_switch(Decision("r0", "rejected", by="bob"), "r1", ()) is None
    assert approvals.blocks_switch(None, "r1", ()) is None
    assert approvals.blocks_switch(Decision("r1", "approved", by="alice"), "r1", ("alice",)) is None
