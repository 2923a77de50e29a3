"""The approval record on the cluster: opening a request, deciding it (and every refusal), closing it, waiting
for it. Each test has a namespace of its own; what another process does (deciding, opening its own request)
goes through a connection of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from pipeline_steps import approvals
from pipeline_steps.errors import ApprovalRejected, ConfigError
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.confirm_context import Action, Waits, kube_cluster, read_record, record_annotations

APP = "web"
RECORD = approvals.record_name(APP)


@pytest.fixture
def kube(cluster: Cluster, namespace: str) -> KubeCluster:
    """The cluster of the process under test."""
    return kube_cluster(cluster, namespace)


@pytest.fixture
def other(cluster: Cluster, namespace: str) -> KubeCluster:
    """Another process on the same namespace: another approver, another run."""
    return kube_cluster(cluster, namespace)


@pytest.fixture
def read_annotations(cluster: Cluster, namespace: str) -> Callable[[], dict[str, str]]:
    return lambda: record_annotations(cluster, namespace)


@pytest.fixture
def current(cluster: Cluster, namespace: str) -> Callable[[], approvals.Decision | None]:
    """The decision the record holds on the API server."""
    return lambda: approvals.decision_of(read_record(cluster, namespace))


def opened(kube: KubeCluster, run_id: str = "run-1") -> KubeCluster:
    approvals.open_request(kube, APP, run_id)
    return kube


def decide(
    kube: KubeCluster,
    run_id: str = "run-1",
    decision: str = "approved",
    *,
    approver: str = "alice",
    allowed: tuple[str, ...] = (),
    comment: str = "",
) -> approvals.Decision:
    return approvals.record_decision(
        kube, APP, run_id=run_id, decision=decision, approver=approver, allowed=allowed, comment=comment
    )


def reads_of(monkeypatch: pytest.MonkeyPatch, kube: KubeCluster, after_next: Action | None = None) -> list[str]:
    """Count the reads `kube` makes (the names read); run `after_next` right after its next read, as if
    another process changed the record between that read and the write that follows it."""
    reads: list[str] = []
    real_get = kube.get
    pending = [after_next] if after_next else []

    def get(api_version: str, kind: str, name: str) -> dict[str, object] | None:
        found = real_get(api_version, kind, name)
        reads.append(name)
        while pending:
            pending.pop()()
        return found

    monkeypatch.setattr(kube, "get", get)
    return reads


def test_open_request_awaits_a_decision_for_the_run(
    kube: KubeCluster, read_annotations: Callable[[], dict[str, str]], current: Callable[[], approvals.Decision | None]
) -> None:
    opened(kube, "run-1")

    assert read_annotations() == {
        approvals.RUN_ID: "run-1",
        approvals.DECISION: approvals.AWAITING,
        approvals.DECIDED_BY: "",
        approvals.DECIDED_AT: "",
        approvals.COMMENT: "",
    }
    assert current() == approvals.Decision("run-1", approvals.AWAITING)


def test_open_request_clears_an_earlier_runs_decision(
    kube: KubeCluster, other: KubeCluster, current: Callable[[], approvals.Decision | None]
) -> None:
    opened(kube, "run-1")
    decide(other, "run-1", "rejected", comment="not today")

    approvals.open_request(kube, APP, "run-2")

    assert current() == approvals.Decision("run-2", approvals.AWAITING)


def test_approve_records_decision_approver_and_time(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-1")

    decision = decide(other, "run-1", "approved", approver="alice", comment="looks good")

    found = read_annotations()
    assert found[approvals.DECISION] == "approved"
    assert found[approvals.DECIDED_BY] == "alice"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found[approvals.DECIDED_AT])
    assert found[approvals.COMMENT] == "looks good"
    assert decision == approvals.Decision("run-1", "approved", "alice", found[approvals.DECIDED_AT], "looks good")


def test_reject_records_the_rejection(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-1")

    decide(other, "run-1", "rejected", approver="bob")

    assert read_annotations()[approvals.DECISION] == "rejected"
    assert read_annotations()[approvals.DECIDED_BY] == "bob"


def test_decision_for_another_run_is_refused_and_changes_nothing(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-2")
    before = read_annotations()

    with pytest.raises(ConfigError) as caught:
        decide(other, "run-1")

    assert "the release waiting for a decision is run run-2, not run-1" in str(caught.value)
    assert caught.value.field == "--run-id"
    assert read_annotations() == before


def test_decision_without_a_waiting_release_is_refused(other: KubeCluster, namespace: str) -> None:
    expected = f"no release of web is waiting for a decision in namespace {namespace}"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        decide(other)


def test_second_decision_is_refused(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-1")
    decide(other, "run-1", "approved", approver="alice")

    with pytest.raises(ConfigError, match="run run-1 was already approved by alice at"):
        decide(other, "run-1", "rejected", approver="bob")

    assert read_annotations()[approvals.DECISION] == "approved"


def test_approver_not_in_the_list_is_refused_before_anything_is_read(
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeCluster,
    other: KubeCluster,
    read_annotations: Callable[[], dict[str, str]],
) -> None:
    opened(kube, "run-1")
    reads = reads_of(monkeypatch, other)

    with pytest.raises(ConfigError) as caught:
        decide(other, "run-1", approver="mallory", allowed=("alice", "bob"))

    assert "'mallory' may not decide releases of web" in str(caught.value)
    assert "allowed: alice, bob" in str(caught.value)
    assert caught.value.field == "confirm.approvers"
    assert reads == []
    assert read_annotations()[approvals.DECISION] == approvals.AWAITING


def test_listed_approver_may_decide(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-1")

    decide(other, "run-1", approver="bob", allowed=("alice", "bob"))

    assert read_annotations()[approvals.DECIDED_BY] == "bob"


def test_run_that_takes_over_between_read_and_write_does_not_get_the_decision(
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeCluster,
    other: KubeCluster,
    current: Callable[[], approvals.Decision | None],
) -> None:
    """approve reads the record (run-1 waits), then run-2 opens its request, then approve writes: the write
    (a JSON patch whose `test` operations the API server checks) must not approve run-2."""
    opened(kube, "run-1")
    reads_of(monkeypatch, other, after_next=lambda: approvals.open_request(kube, APP, "run-2"))

    with pytest.raises(ConfigError, match="the release waiting for a decision is run run-2, not run-1"):
        decide(other, "run-1", "approved")

    assert current() == approvals.Decision("run-2", approvals.AWAITING)


def test_decision_made_between_read_and_write_is_not_overwritten(
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeCluster,
    other: KubeCluster,
    read_annotations: Callable[[], dict[str, str]],
) -> None:
    opened(kube, "run-1")
    reads_of(monkeypatch, other, after_next=lambda: decide(kube, "run-1", "rejected", approver="bob"))

    with pytest.raises(ConfigError, match="run run-1 was already rejected by bob"):
        decide(other, "run-1", "approved", approver="alice")

    assert read_annotations()[approvals.DECISION] == "rejected"


def test_close_request_records_who_closed_it_and_refuses_late_decisions(kube: KubeCluster, other: KubeCluster) -> None:
    opened(kube, "run-1")

    closed = approvals.close_request(
        kube, APP, "run-1", decision="rejected", by=approvals.TIMEOUT_DECIDER, comment="no decision"
    )

    assert closed is not None and closed.by == approvals.TIMEOUT_DECIDER and closed.decision == "rejected"
    with pytest.raises(ConfigError, match=r"run run-1 was already rejected by pipeline-steps \(confirm.timeout\)"):
        decide(other, "run-1", "approved")


def test_close_request_returns_a_decision_that_came_first(
    kube: KubeCluster, other: KubeCluster, read_annotations: Callable[[], dict[str, str]]
) -> None:
    opened(kube, "run-1")
    decide(other, "run-1", "approved", approver="alice")

    standing = approvals.close_request(kube, APP, "run-1", decision="rejected", by="timeout")

    assert standing is not None and standing.decision == "approved" and standing.by == "alice"
    assert read_annotations()[approvals.DECIDED_BY] == "alice"


def test_close_request_leaves_another_runs_record_alone(
    kube: KubeCluster, other: KubeCluster, current: Callable[[], approvals.Decision | None]
) -> None:
    opened(other, "run-2")

    assert approvals.close_request(kube, APP, "run-1", decision="rejected", by="timeout") is None
    assert current() == approvals.Decision("run-2", approvals.AWAITING)


def test_wait_returns_the_decision_made_meanwhile(
    monkeypatch: pytest.MonkeyPatch, kube: KubeCluster, other: KubeCluster
) -> None:
    opened(kube, "run-1")
    waits = Waits.around(monkeypatch, kube)
    waits.meanwhile.append(lambda: decide(other, "run-1", "approved", approver="alice"))
    seen: list[str] = []

    decision = approvals.wait_for_decision(kube, APP, "run-1", timeout=30, progress=seen.append)

    assert decision is not None and decision.decision == "approved" and decision.by == "alice"
    assert waits.timeouts == [30]
    assert "waiting for approve or reject of run run-1" in seen


def test_wait_times_out_to_none(kube: KubeCluster) -> None:
    opened(kube, "run-1")

    assert approvals.wait_for_decision(kube, APP, "run-1", timeout=2, progress=lambda _: None) is None


def test_wait_ends_when_another_run_takes_over(
    monkeypatch: pytest.MonkeyPatch, kube: KubeCluster, other: KubeCluster
) -> None:
    opened(kube, "run-1")
    Waits.around(monkeypatch, kube).meanwhile.append(lambda: approvals.open_request(other, APP, "run-2"))

    with pytest.raises(ApprovalRejected, match="approval of run run-1 abandoned: run run-2 took over the record"):
        approvals.wait_for_decision(kube, APP, "run-1", timeout=30, progress=lambda _: None)
