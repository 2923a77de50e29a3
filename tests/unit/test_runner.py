"""Step selection, the exit-code decision, and the runner's loop (with fake steps: no cluster)."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, cast

import pytest

from pipeline_steps import outcome, release_lock, runner
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ApprovalPending, ApprovalRejected, ClusterError, ConfigError, RolloutFailed
from pipeline_steps.facts import RunFacts
from pipeline_steps.outcome import ExitCode
from pipeline_steps.report import ErrorKind, RunReport, StepReport, StepStatus
from pipeline_steps.state import RunState
from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps.steps import STEPS, Outcome, Step
from pipeline_steps.strategies.base import Plan

# -- step names and selection -------------------------------------------------------------------------


def test_pipeline_order() -> None:
    assert STEP_NAMES == (
        "pre-clean", "prepare-image", "check-env", "deploy", "verify-staged",
        "confirm", "switch", "verify-prod", "post-clean",
    )  # fmt: skip
    assert tuple(step.name for step in STEPS) == STEP_NAMES
    assert [step.name for step in STEPS if step.read_only] == ["check-env"]


def test_all_steps_by_default() -> None:
    assert runner.select_steps() == list(STEP_NAMES)


def test_from_and_to_are_inclusive() -> None:
    assert runner.select_steps(first="deploy", last="switch") == ["deploy", "verify-staged", "confirm", "switch"]


def test_from_alone_runs_to_the_end_and_to_alone_from_the_start() -> None:
    assert runner.select_steps(first="verify-prod") == ["verify-prod", "post-clean"]
    assert runner.select_steps(last="prepare-image") == ["pre-clean", "prepare-image"]


def test_from_and_to_the_same_step() -> None:
    assert runner.select_steps(first="confirm", last="confirm") == ["confirm"]


def test_only_keeps_pipeline_order_and_drops_repeats() -> None:
    assert runner.select_steps(only=["switch", "deploy", "switch"]) == ["deploy", "switch"]


def test_from_after_to_is_an_error_naming_the_order() -> None:
    with pytest.raises(ConfigError) as caught:
        runner.select_steps(first="switch", last="deploy")
    assert caught.value.message == "--from switch comes after --to deploy"
    assert caught.value.hint == f"the order is {', '.join(STEP_NAMES)}"


@pytest.mark.parametrize(
    ("only", "first", "last", "bad"),
    [
        (["deploy", "swtich"], None, None, "swtich"),
        ((), "Deploy", None, "Deploy"),
        ((), None, "verify", "verify"),
    ],
)
def test_unknown_step_names_the_step_and_lists_the_valid_ones(
    only: list[str], first: str | None, last: str | None, bad: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        runner.select_steps(only, first, last)
    assert caught.value.field == "step"
    assert str(caught.value) == f"step: unknown step {bad!r} (steps are: {', '.join(STEP_NAMES)})"


# -- exit_code_for ------------------------------------------------------------------------------------


def report_of(*statuses: StepStatus) -> RunReport:
    report = RunReport(app="web", namespace="ns", strategy="bluegreen", run_id="r1")
    report.steps = [StepReport(f"step-{i}", status, "") for i, status in enumerate(statuses)]
    return report


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ((), ExitCode.OK),
        ((StepStatus.SUCCEEDED, StepStatus.UNCHANGED, StepStatus.PLANNED, StepStatus.SKIPPED), ExitCode.OK),
        ((StepStatus.SUCCEEDED, StepStatus.FAILED), ExitCode.FAILED),
        ((StepStatus.SUCCEEDED, StepStatus.AWAITING_APPROVAL), ExitCode.AWAITING_APPROVAL),
        ((StepStatus.REJECTED,), ExitCode.REJECTED),
        ((StepStatus.ROLLED_BACK,), ExitCode.ROLLED_BACK),
        # Precedence: rolled back > rejected > failed > awaiting approval.
        ((StepStatus.FAILED, StepStatus.ROLLED_BACK), ExitCode.ROLLED_BACK),
        ((StepStatus.FAILED, StepStatus.REJECTED), ExitCode.REJECTED),
        ((StepStatus.REJECTED, StepStatus.ROLLED_BACK), ExitCode.ROLLED_BACK),
        ((StepStatus.AWAITING_APPROVAL, StepStatus.FAILED), ExitCode.FAILED),
    ],
)
def test_exit_code_for_a_chain(statuses: tuple[StepStatus, ...], code: ExitCode) -> None:
    assert outcome.exit_code_for(report_of(*statuses)) is code


def test_a_single_step_handing_over_to_the_ci_gate_exits_zero() -> None:
    assert outcome.exit_code_for(report_of(StepStatus.AWAITING_APPROVAL), single_step=True) is ExitCode.OK


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (StepStatus.REJECTED, ExitCode.REJECTED),
        (StepStatus.FAILED, ExitCode.FAILED),
        (StepStatus.ROLLED_BACK, ExitCode.ROLLED_BACK),
    ],
)
def test_the_single_step_rule_does_not_hide_failures(status: StepStatus, code: ExitCode) -> None:
    assert outcome.exit_code_for(report_of(status), single_step=True) is code


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "ROLLED_BACK": 3, "AWAITING_APPROVAL": 4, "REJECTED": 5,
        "TEMPORARY": 6, "INTERNAL": 7,
    }  # fmt: skip


def test_the_readme_documents_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, f"README's exit-code table lacks {int(code)} ({code.name})"


def failed_report(*kinds: ErrorKind | None) -> RunReport:
    report = RunReport(app="web", namespace="ns", strategy="bluegreen", run_id="r")
    report.steps = [StepReport(f"s{i}", StepStatus.FAILED, "x", error_kind=kind) for i, kind in enumerate(kinds)]
    return report


@pytest.mark.parametrize(
    ("kinds", "code"),
    [
        ((ErrorKind.TEMPORARY,), ExitCode.TEMPORARY),
        ((ErrorKind.PERMANENT,), ExitCode.FAILED),
        ((None,), ExitCode.FAILED),
        ((ErrorKind.TEMPORARY, ErrorKind.PERMANENT), ExitCode.FAILED),
        ((ErrorKind.TEMPORARY, ErrorKind.INTERNAL), ExitCode.INTERNAL),
    ],
)
def test_a_failure_keeps_its_kind_to_the_exit_code(kinds: tuple[ErrorKind | None, ...], code: ExitCode) -> None:
    assert outcome.exit_code_for(failed_report(*kinds)) is code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad"), ExitCode.USAGE),
        (ClusterError("list Pod: 503", status=503, retryable=True), ExitCode.TEMPORARY),
        (ClusterError("list Pod: 403", status=403), ExitCode.FAILED),
        (KeyboardInterrupt(), ExitCode.FAILED),
        (KeyError("facts"), ExitCode.INTERNAL),
    ],
)
def test_an_error_outside_a_run_keeps_its_kind_too(error: BaseException, code: ExitCode) -> None:
    assert outcome.exit_code_for_error(error) is code


def test_run_step_reports_a_temporary_error_as_temporary() -> None:
    step = fake_step("deploy", plan=ClusterError("read Deployment/web: 503", status=503, retryable=True))
    report = runner.run_step(context(), step)
    assert (report.status, report.error_kind) == (StepStatus.FAILED, ErrorKind.TEMPORARY)


def test_run_step_reports_a_bug_as_an_internal_error_with_its_step() -> None:
    step = fake_step("switch", outcome=KeyError("target_role"))
    report = runner.run_step(context(), step)
    assert (report.status, report.error_kind) == (StepStatus.FAILED, ErrorKind.INTERNAL)
    assert report.summary.startswith("internal error in switch: KeyError: 'target_role'")


# -- run_step and run, with fake steps ----------------------------------------------------------------


def context(*, dry_run: bool = False) -> ReleaseContext:
    fake = types.SimpleNamespace(
        config=types.SimpleNamespace(app="web", strategy="bluegreen"),
        cluster=types.SimpleNamespace(namespace="ns"),
        state=RunState(app="web", run_id="run-7", strategy="bluegreen"),
        dry_run=dry_run,
        offline=False,
        warnings=[],
    )
    fake.facts = fake.state.facts
    fake.run_id = fake.state.run_id
    return cast(ReleaseContext, fake)


def fake_step(
    name: str,
    *,
    plan: Plan | Exception | None = None,
    outcome: Outcome | Exception | None = None,
    calls: list[str] | None = None,
    read_only: bool = False,
) -> Step:
    log = calls if calls is not None else []

    def do_plan(_ctx: ReleaseContext) -> Plan:
        log.append(f"plan {name}")
        if isinstance(plan, Exception):
            raise plan
        return plan or Plan(f"{name} planned", changes=[f"change {name}"], diff=f"diff {name}")

    def do_execute(_ctx: ReleaseContext, _plan: Plan) -> Outcome:
        log.append(f"execute {name}")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome or Outcome(f"{name} done", changes=[f"changed {name}"])

    return Step(name, do_plan, do_execute, read_only=read_only)


def test_run_step_executes_the_plan_and_keeps_its_facts() -> None:
    ctx, calls = context(), list[str]()
    step = fake_step("deploy", plan=Plan("apply 2 objects", facts={"target_role": "green"}), calls=calls)
    report = runner.run_step(ctx, step)
    assert calls == ["plan deploy", "execute deploy"]
    assert (report.name, report.status, report.summary, report.changes) == (
        "deploy", StepStatus.SUCCEEDED, "deploy done", ["changed deploy"],
    )  # fmt: skip
    assert ctx.facts == RunFacts(target_role="green")


def test_run_step_does_not_execute_a_noop_plan() -> None:
    calls: list[str] = []
    report = runner.run_step(context(), fake_step("deploy", plan=Plan("up to date", noop=True), calls=calls))
    assert calls == ["plan deploy"]
    assert (report.status, report.summary) == (StepStatus.UNCHANGED, "up to date")


def test_dry_run_plans_without_executing_except_read_only_steps() -> None:
    calls: list[str] = []
    ctx = context(dry_run=True)
    planned = runner.run_step(ctx, fake_step("deploy", calls=calls))
    assert (planned.status, planned.changes, planned.diff) == (StepStatus.PLANNED, ["change deploy"], "diff deploy")
    noop = runner.run_step(ctx, fake_step("switch", plan=Plan("nothing", noop=True), calls=calls))
    assert noop.status is StepStatus.UNCHANGED
    read = runner.run_step(ctx, fake_step("check-env", calls=calls, read_only=True))
    assert read.status is StepStatus.SUCCEEDED
    assert calls == ["plan deploy", "plan switch", "plan check-env", "execute check-env"]


@pytest.mark.parametrize(
    ("raised", "status", "error"),
    [
        (RolloutFailed("web: 0 of 3 available"), StepStatus.FAILED, "web: 0 of 3 available"),
        (ApprovalRejected("rejected by bob"), StepStatus.REJECTED, "rejected by bob"),
        (ApprovalPending("jenkins input decides"), StepStatus.AWAITING_APPROVAL, None),
    ],
)
def test_run_step_maps_errors_to_statuses(raised: Exception, status: StepStatus, error: str | None) -> None:
    report = runner.run_step(context(), fake_step("confirm", outcome=raised))
    assert (report.status, report.summary, report.error) == (status, str(raised), error)


def test_run_step_lets_config_errors_through() -> None:
    with pytest.raises(ConfigError, match="bad manifest"):
        runner.run_step(context(), fake_step("deploy", plan=ConfigError("bad manifest")))


def run_with(monkeypatch: pytest.MonkeyPatch, steps: list[Step], names: list[str], *, dry_run: bool = False) -> Any:
    monkeypatch.setattr(runner, "STEPS", tuple(steps))
    # The release lock lives on the cluster (tested in test_release_lock.py); here it is always free.
    monkeypatch.setattr(release_lock, "acquire", lambda *_args: False)
    monkeypatch.setattr(release_lock, "release", lambda *_args: True)
    ctx, saves, events = context(dry_run=dry_run), list[int](), list[str]()
    report = runner.run(
        ctx,
        names,
        on_step_start=lambda name: events.append(f"start {name}"),
        on_step_done=lambda step: events.append(f"done {step.name} {step.status.value}"),
        save=lambda: saves.append(1),
    )
    return report, ctx, len(saves), events


def test_run_goes_in_the_given_order_and_stops_at_the_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [
        fake_step("a", plan=Plan("a", facts={"active_role": "blue", "deployments": ["web-blue"]})),
        fake_step("b", outcome=RolloutFailed("b broke")),
        fake_step("c"),
    ]
    report, ctx, saves, events = run_with(monkeypatch, steps, ["a", "b", "c"])
    assert events == ["start a", "done a succeeded", "start b", "done b failed"]
    assert [step.name for step in report.steps] == ["a", "b"]
    assert ctx.state.steps == {"a": "succeeded", "b": "failed"}
    assert saves == 2
    assert (report.exit_code, report.outcome) == (1, "failed")
    assert report.facts == {"active_role": "blue"}
    assert (report.app, report.namespace, report.run_id) == ("web", "ns", "run-7")
    assert report.started_at.endswith("Z")
    assert report.finished_at.endswith("Z")


def test_a_dry_run_never_saves_state(monkeypatch: pytest.MonkeyPatch) -> None:
    report, ctx, saves, _ = run_with(monkeypatch, [fake_step("a"), fake_step("b")], ["a", "b"], dry_run=True)
    assert saves == 0
    assert ctx.state.steps == {"a": "planned", "b": "planned"}
    assert (report.exit_code, report.outcome, report.dry_run) == (0, "ok", True)


def test_confirm_alone_awaiting_the_ci_gate_is_ok_but_stops_a_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [fake_step("confirm", outcome=ApprovalPending("gate")), fake_step("switch")]
    alone, *_ = run_with(monkeypatch, steps, ["confirm"])
    assert (alone.exit_code, alone.outcome) == (0, "ok")
    chain, _, _, events = run_with(monkeypatch, steps, ["confirm", "switch"])
    assert (chain.exit_code, chain.outcome) == (4, "awaiting_approval")
    assert "start switch" not in events


def test_only_with_a_range_is_an_error_not_a_silent_choice() -> None:
    with pytest.raises(ConfigError) as caught:
        runner.select_steps(only=["switch"], first="deploy")
    assert "--only cannot be combined with --from or --to" in str(caught.value)
