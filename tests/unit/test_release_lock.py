"""The release lock's reading of a Lease, and when a run gives the lock back."""

from __future__ import annotations

import datetime

from pipeline_steps.release_lock import lock_state
from pipeline_steps.report import RunReport, StepReport, StepStatus
from pipeline_steps.runner import release_is_over

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _lease(holder: str | None, renewed: str | None, duration: int = 600) -> dict[str, object]:
    spec: dict[str, object] = {"leaseDurationSeconds": duration}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = renewed
    return {"metadata": {"name": "pipeline-steps-web", "resourceVersion": "7"}, "spec": spec}


def test_no_lease_is_a_free_lock() -> None:
    state = lock_state(None, NOW)
    assert state.free
    assert not state.stale
    assert not state.held_by_other("run-1")


def test_a_live_lease_of_another_run_holds_the_lock() -> None:
    state = lock_state(_lease("run-1", "2026-12-01T11:55:00.000000Z"), NOW)
    assert state.holder == "run-1"
    assert state.expires_at == datetime.datetime(2026, 12, 1, 12, 5, tzinfo=datetime.UTC)
    assert not state.stale
    assert state.held_by_other("run-2")
    assert not state.held_by_other("run-1")


def test_a_lease_not_renewed_within_its_duration_is_stale() -> None:
    state = lock_state(_lease("run-1", "2026-12-01T11:49:59.999999Z"), NOW)
    assert state.stale
    assert not state.held_by_other("run-2")


def test_a_lease_expiring_exactly_now_is_stale() -> None:
    assert lock_state(_lease("run-1", "2026-12-01T11:50:00Z"), NOW).stale


def test_a_held_lease_without_times_is_stale_rather_than_held_forever() -> None:
    state = lock_state(_lease("run-1", None), NOW)
    assert state.expires_at is None
    assert state.stale


def test_the_acquire_time_stands_in_for_a_missing_renew_time() -> None:
    lease = _lease("run-1", None)
    lease["spec"]["acquireTime"] = "2026-12-01T11:59:00.000000Z"  # type: ignore[index]
    assert lock_state(lease, NOW).held_by_other("run-2")


def test_a_lease_read_through_the_client_carries_datetimes() -> None:
    lease = _lease("run-1", None)
    lease["spec"]["renewTime"] = datetime.datetime(2026, 12, 1, 11, 59)  # type: ignore[index]
    state = lock_state(lease, NOW)
    assert state.renewed_at == datetime.datetime(2026, 12, 1, 11, 59, tzinfo=datetime.UTC)
    assert state.held_by_other("run-2")


def _report(*steps: tuple[str, StepStatus]) -> RunReport:
    report = RunReport(app="web", namespace="ns", strategy="bluegreen", run_id="run-1", dry_run=False, started_at="")
    report.steps = [StepReport(name, status, "", 0.0) for name, status in steps]
    return report


def test_the_lock_is_kept_between_stages_and_while_a_ci_gate_decides() -> None:
    assert not release_is_over(_report())
    assert not release_is_over(_report(("deploy", StepStatus.SUCCEEDED)))
    awaiting = _report(("verify-staged", StepStatus.SUCCEEDED), ("confirm", StepStatus.AWAITING_APPROVAL))
    assert not release_is_over(awaiting)
    assert not release_is_over(_report(("switch", StepStatus.UNCHANGED)))


def test_the_lock_is_given_back_when_the_release_is_over() -> None:
    assert release_is_over(_report(("verify-prod", StepStatus.SUCCEEDED), ("post-clean", StepStatus.SUCCEEDED)))
    assert release_is_over(_report(("post-clean", StepStatus.UNCHANGED)))
    assert release_is_over(_report(("deploy", StepStatus.FAILED)))
    assert release_is_over(_report(("verify-prod", StepStatus.ROLLED_BACK)))
    assert release_is_over(_report(("confirm", StepStatus.REJECTED)))


def test_the_lease_says_which_step_its_holder_is_in() -> None:
    lease = _lease("run-1", "2026-12-01T11:55:00.000000Z")
    assert lock_state(lease, NOW).step is None
    lease["metadata"] = {"name": "pipeline-steps-web", "annotations": {"pipeline-steps.dev/step": "switch"}}
    assert lock_state(lease, NOW).step == "switch"
