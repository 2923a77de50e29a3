"""The release lock's reading of a Lease, when it expires (timed as client-go's leader election times it, with a
fake clock), and when a run gives the lock back."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from pipeline_steps.release_lock import (
    CREATED_NAMESPACE_ANNOTATION,
    LeaseObservations,
    lock_state,
    record_of,
    release_refused,
    server_age,
)
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
    state = lock_state(None, 0.0)
    assert state.free
    assert not state.stale
    assert not state.held_by_other("run-1")


def test_a_live_lease_of_another_run_holds_the_lock() -> None:
    state = lock_state(_lease("run-1", "2026-12-01T11:55:00.000000Z"), 300.0)
    assert state.holder == "run-1"
    assert state.expires_in_s == 300.0
    assert not state.stale
    assert state.held_by_other("run-2")
    assert not state.held_by_other("run-1")


def test_a_lease_not_renewed_within_its_duration_is_stale() -> None:
    state = lock_state(_lease("run-1", "2026-12-01T11:49:59.999999Z"), 600.000001)
    assert state.stale
    assert not state.held_by_other("run-2")


def test_a_lease_expiring_exactly_now_is_stale() -> None:
    assert lock_state(_lease("run-1", "2026-12-01T11:50:00Z"), 600.0).stale


def test_a_held_lease_without_times_is_stale_rather_than_held_forever() -> None:
    state = lock_state(_lease("run-1", None), 0.0)
    assert state.renewed_at is None
    assert state.stale


def test_the_acquire_time_stands_in_for_a_missing_renew_time() -> None:
    lease = _lease("run-1", None)
    lease["spec"]["acquireTime"] = "2026-12-01T11:59:00.000000Z"  # type: ignore[index]
    assert lock_state(lease, 60.0).held_by_other("run-2")


def test_a_lease_read_through_the_client_carries_datetimes() -> None:
    lease = _lease("run-1", None)
    lease["spec"]["renewTime"] = datetime.datetime(2026, 12, 1, 11, 59)  # type: ignore[index]
    state = lock_state(lease, 60.0)
    assert state.renewed_at == datetime.datetime(2026, 12, 1, 11, 59, tzinfo=datetime.UTC)
    assert state.held_by_other("run-2")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expiry_is_timed_from_when_this_process_saw_the_record_change_not_from_the_holders_clock() -> None:
    clock = FakeClock()
    observed = LeaseObservations(clock)
    # The holder's clock runs an hour behind: its renewTime looks long expired, yet the lock is live.
    lease = _lease("run-1", "2026-12-01T11:00:00.000000Z", duration=600)
    assert observed.unchanged_for("web", record_of(lease), None) == 0.0
    clock.now += 599
    assert lock_state(lease, observed.unchanged_for("web", record_of(lease), None)).held_by_other("run-2")
    # It renews (still on its own clock): the change is dated when this process saw it.
    lease = _lease("run-1", "2026-12-01T11:09:00.000000Z", duration=600)
    assert observed.unchanged_for("web", record_of(lease), None) == 0.0
    clock.now += 599
    assert not lock_state(lease, observed.unchanged_for("web", record_of(lease), None)).stale
    clock.now += 1
    assert lock_state(lease, observed.unchanged_for("web", record_of(lease), None)).stale


def test_a_record_first_seen_is_as_old_as_the_api_server_says_and_a_later_change_is_dated_when_seen() -> None:
    clock = FakeClock()
    observed = LeaseObservations(clock)
    lease = _lease("run-1", "2026-12-01T11:00:00.000000Z", duration=600)
    assert observed.unchanged_for("web", record_of(lease), 650.0) == 650.0
    assert lock_state(lease, observed.unchanged_for("web", record_of(lease), 650.0)).stale
    # Another run takes it over: from now on, this process's clock times it, whatever the server's age says.
    taken = _lease("run-2", "2026-12-01T11:20:00.000000Z", duration=600)
    clock.now += 5
    assert observed.unchanged_for("web", record_of(taken), 900.0) == 0.0
    # Each Lease is observed on its own.
    assert observed.unchanged_for("other", record_of(lease), None) == 0.0


def _stamped(*entries: tuple[dict[str, Any], str]) -> dict[str, Any]:
    lease = _lease("run-1", "2026-12-01T11:00:00.000000Z")
    lease["metadata"] = {
        "name": "pipeline-steps-web",
        "managedFields": [
            {"manager": "m", "operation": "Update", "time": when, "fieldsV1": fields} for fields, when in entries
        ],
    }
    return lease


def test_the_server_dates_the_last_renewal_by_the_write_that_owns_renew_time() -> None:
    server_now = datetime.datetime(2026, 12, 1, 12, 0, 30, tzinfo=datetime.UTC)
    lease = _stamped(
        ({"f:metadata": {"f:labels": {}}}, "2026-12-01T12:00:20Z"),  # a label written since: not a renewal
        ({"f:spec": {"f:renewTime": {}, "f:holderIdentity": {}}}, "2026-12-01T12:00:00Z"),
    )
    assert server_age(lease, server_now) == 30.0
    assert server_age(lease, None) is None
    assert server_age(_stamped(), server_now) is None
    # A server clock read before the stamp (a second's rounding) is no negative age.
    assert server_age(lease, datetime.datetime(2026, 12, 1, 11, 59, 59, tzinfo=datetime.UTC)) == 0.0


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
    assert lock_state(lease, 0.0).step is None
    lease["metadata"] = {"name": "pipeline-steps-web", "annotations": {"pipeline-steps.dev/step": "switch"}}
    assert lock_state(lease, 0.0).step == "switch"


@dataclasses.dataclass
class LeaseStore:
    """The calls release_refused makes, on Leases held in memory: what it deletes is what it changed."""

    leases: dict[str, dict[str, Any]]
    namespace: str = "new"
    deleted: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        return self.leases.get(name)

    def list(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        return list(self.leases.values())

    def delete(self, api_version: str, kind: str, name: str, *, resource_version: str | None = None) -> bool:
        self.deleted.append((kind, name))
        return True


def _held(name: str = "pipeline-steps-web", *, created_namespace: bool) -> dict[str, Any]:
    lease = _lease("run-1", NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    annotations = {CREATED_NAMESPACE_ANNOTATION: "true"} if created_namespace else {}
    lease["metadata"] = {"name": name, "resourceVersion": "7", "annotations": annotations}
    return lease


def test_a_refused_run_removes_the_namespace_its_lock_created() -> None:
    store = LeaseStore({"pipeline-steps-web": _held(created_namespace=True)})
    assert release_refused(store, "web", "run-1")  # type: ignore[arg-type]
    assert store.deleted == [("Namespace", "new")]


@pytest.mark.parametrize(
    "leases",
    [
        {"pipeline-steps-web": _held(created_namespace=False)},  # the namespace was there before this run
        {  # another app took its lock in the new namespace meanwhile
            "pipeline-steps-web": _held(created_namespace=True),
            "pipeline-steps-api": _held("pipeline-steps-api", created_namespace=False),
        },
    ],
)
def test_a_refused_run_otherwise_gives_back_only_its_lock(leases: dict[str, dict[str, Any]]) -> None:
    store = LeaseStore(leases)
    assert release_refused(store, "web", "run-1")  # type: ignore[arg-type]
    assert store.deleted == [("Lease", "pipeline-steps-web")]


def test_a_refused_run_leaves_a_lock_it_does_not_hold() -> None:
    store = LeaseStore({"pipeline-steps-web": _held(created_namespace=True)})
    assert not release_refused(store, "web", "run-2")  # type: ignore[arg-type]
    assert store.deleted == []
