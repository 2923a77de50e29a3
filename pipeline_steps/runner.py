"""The runner: chooses the steps, plans each, executes unless dry-run, keeps the state, decides the outcome.

One loop for every kind of run: a release, one CI stage, a dry-run against the cluster, and an offline
plan (no cluster: steps that need one are reported as not checked, the others plan without it)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence

from pipeline_steps import release_lock
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ApprovalPending, ApprovalRejected, ConfigError, PipelineError
from pipeline_steps.facts import reported
from pipeline_steps.outcome import exit_code_for
from pipeline_steps.report import ErrorKind, RunReport, StepReport, StepStatus
from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps.steps import STEPS, Step

#: Said of an offline plan in its report, where CI summaries show it.
NOT_CONTACTED = "not contacted: no cluster credentials (offline plan)"


def select_steps(only: Sequence[str] = (), first: str | None = None, last: str | None = None) -> list[str]:
    """The steps to run, in pipeline order: --only (repeatable), or the range --from..--to."""
    for name in [*only, first, last]:
        if name is not None and name not in STEP_NAMES:
            raise ConfigError(f"unknown step {name!r}", field="step", hint=f"steps are: {', '.join(STEP_NAMES)}")
    if only and (first or last):
        raise ConfigError(
            "--only cannot be combined with --from or --to", field="--only", hint="give either --only or a range"
        )
    if only:
        return [name for name in STEP_NAMES if name in only]
    start = STEP_NAMES.index(first) if first else 0
    end = STEP_NAMES.index(last) if last else len(STEP_NAMES) - 1
    if start > end:
        raise ConfigError(f"--from {first} comes after --to {last}", hint=f"the order is {', '.join(STEP_NAMES)}")
    return list(STEP_NAMES[start : end + 1])


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_step(ctx: ReleaseContext, step: Step) -> StepReport:
    """Plan one step and, unless this is a dry-run or there is nothing to do, execute it."""
    started = time.monotonic()
    if ctx.offline and step.needs_cluster:
        return StepReport(step.name, StepStatus.SKIPPED, f"not checked: {step.needs_cluster} is on the cluster")
    try:
        if step.changes_cluster and not ctx.dry_run:
            # Before planning: the plan must read a cluster no other run is changing.
            release_lock.acquire(
                ctx.cluster, ctx.config.app, ctx.run_id, release_lock.duration_for(ctx.config), step=step.name
            )
        plan = step.plan(ctx)
        ctx.facts.merge(plan.facts)
        if ctx.dry_run and not step.read_only:
            status = StepStatus.UNCHANGED if plan.noop else StepStatus.PLANNED
            return StepReport(
                step.name,
                status,
                plan.summary,
                time.monotonic() - started,
                plan.changes,
                plan.diff,
                unchecked=plan.unchecked,
            )
        if plan.noop:
            return StepReport(step.name, StepStatus.UNCHANGED, plan.summary, time.monotonic() - started)
        outcome = step.execute(ctx, plan)
        return StepReport(
            step.name,
            outcome.status,
            outcome.summary,
            time.monotonic() - started,
            outcome.changes,
            plan.diff,
            outcome.checks,
            error=outcome.error,
        )
    except ConfigError:
        raise
    except ApprovalRejected as exc:
        return StepReport(step.name, StepStatus.REJECTED, str(exc), time.monotonic() - started, error=str(exc))
    except ApprovalPending as exc:
        return StepReport(step.name, StepStatus.AWAITING_APPROVAL, str(exc), time.monotonic() - started)
    except PipelineError as exc:
        kind = ErrorKind.TEMPORARY if exc.retryable else ErrorKind.PERMANENT
        return StepReport(
            step.name, StepStatus.FAILED, str(exc), time.monotonic() - started, error=str(exc), error_kind=kind
        )
    except Exception as exc:  # a bug: reported with the run's context, never as a raw traceback
        message = f"internal error in {step.name}: {type(exc).__name__}: {exc}"
        return StepReport(
            step.name,
            StepStatus.FAILED,
            message + " (a bug in pipeline-steps; please report it with this run's report)",
            time.monotonic() - started,
            error=message,
            error_kind=ErrorKind.INTERNAL,
        )


def release_is_over(report: RunReport) -> bool:
    """The run has nothing left to do: post-clean done, or a step failed, rolled back or was rejected."""
    if not report.steps:
        return False
    last = report.steps[-1]
    if last.status == StepStatus.AWAITING_APPROVAL:
        return False
    return not last.ok or last.name == STEP_NAMES[-1]


def _give_back_lock(ctx: ReleaseContext, *, refused: bool = False) -> None:
    try:
        if refused:
            release_lock.release_refused(ctx.cluster, ctx.config.app, ctx.run_id)
        else:
            release_lock.release(ctx.cluster, ctx.config.app, ctx.run_id)
    except PipelineError as exc:
        # The release itself is decided; a lock left behind goes stale and pre-clean removes it.
        ctx.warn(f"could not give back the release lock: {exc}")


def run(
    ctx: ReleaseContext,
    names: Sequence[str],
    *,
    on_step_start: Callable[[str], None] = lambda _name: None,
    on_step_done: Callable[[StepReport], None] = lambda _report: None,
    save: Callable[[], None] = lambda: None,
) -> RunReport:
    """Run `names` in order and stop at the first step that does not succeed."""
    report = RunReport(
        app=ctx.config.app,
        namespace=ctx.cluster.namespace,
        strategy=ctx.config.strategy,
        run_id=ctx.run_id,
        dry_run=ctx.dry_run,
        started_at=_now(),
    )
    by_name = {step.name: step for step in STEPS}
    try:
        for name in names:
            on_step_start(name)
            step_report = run_step(ctx, by_name[name])
            report.steps.append(step_report)
            ctx.state.steps[name] = step_report.status.value
            if not ctx.dry_run:
                save()
            on_step_done(step_report)
            if not step_report.ok:
                break
    except BaseException as exc:
        # Interrupted (Ctrl-C, a CI abort's SIGTERM) or stopped by bad input: this run is over, so the next
        # one need not wait for its lock to expire. Bad input refused before anything was applied leaves nothing.
        if not ctx.dry_run:
            _give_back_lock(ctx, refused=isinstance(exc, ConfigError) and not ctx.facts.changed_objects)
        raise
    if not ctx.dry_run and release_is_over(report):
        _give_back_lock(ctx)
    report.finished_at = _now()
    report.facts = reported(ctx.facts)
    report.warnings = list(ctx.warnings)
    if ctx.offline:
        report.facts["cluster"] = NOT_CONTACTED
        report.facts["not_checked"] = "; ".join(_not_checked(report, by_name)) or "nothing"
    code = exit_code_for(report, single_step=len(names) == 1)
    report.exit_code = int(code)
    report.outcome = code.name.lower()
    return report


def _not_checked(report: RunReport, by_name: dict[str, Step]) -> list[str]:
    """What an offline plan could not check, step by step: the steps skipped and what the others left open."""
    items = []
    for step in report.steps:
        needs = by_name[step.name].needs_cluster
        items += [f"{step.name} ({needs})"] if needs else [f"{step.name} ({what})" for what in step.unchecked]
    return items
