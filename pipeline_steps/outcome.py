"""Exit codes of the command line: the one table, and the one place that decides them."""

from __future__ import annotations

import enum

from pipeline_steps.errors import ConfigError, PipelineError
from pipeline_steps.report import ErrorKind, RunReport, StepStatus


class ExitCode(enum.IntEnum):
    """What `pipeline-steps` exits with. Documented in the README; CI scripts may branch on them."""

    OK = 0  #: every step that ran succeeded (or, with --dry-run, planned without error)
    FAILED = 1  #: a step failed; nothing was switched back because nothing needed to be
    USAGE = 2  #: bad flags, config or manifests; nothing was changed
    ROLLED_BACK = 3  #: a step failed and the release was undone by itself (rolling undo, switch back)
    AWAITING_APPROVAL = 4  #: confirm handed the decision to a CI gate; run the next stage after it
    REJECTED = 5  #: the release was rejected or the approval timed out; the public endpoint is untouched
    TEMPORARY = 6  #: a temporary failure (API unreachable, 429, 5xx, timeout) outlasted its retries: run it again
    INTERNAL = 7  #: an unexpected error, a bug in pipeline-steps; the report says where it happened


def exit_code_for(report: RunReport, *, single_step: bool = False) -> ExitCode:
    """What a run that ended with a report exits with.

    A confirm run alone (`step confirm`, a CI stage) that hands the decision to the CI's gate has done its
    job: exit 0. In a chain (`run`) it stops the release before switch: AWAITING_APPROVAL."""
    statuses = [step.status for step in report.steps]
    if StepStatus.ROLLED_BACK in statuses:
        return ExitCode.ROLLED_BACK
    if StepStatus.REJECTED in statuses:
        return ExitCode.REJECTED
    failed = [step for step in report.steps if step.status == StepStatus.FAILED]
    if any(step.error_kind == ErrorKind.INTERNAL for step in failed):
        return ExitCode.INTERNAL
    if failed and all(step.error_kind == ErrorKind.TEMPORARY for step in failed):
        return ExitCode.TEMPORARY
    if failed:
        return ExitCode.FAILED
    if StepStatus.AWAITING_APPROVAL in statuses and not single_step:
        return ExitCode.AWAITING_APPROVAL
    return ExitCode.OK


def exit_code_for_jenkins(succeeded: bool) -> ExitCode:
    """`pipeline-steps jenkins ...`: a decided input, or a triggered build that ended SUCCESS, is OK."""
    return ExitCode.OK if succeeded else ExitCode.FAILED


def exit_code_for_error(error: BaseException) -> ExitCode:
    """What a command that stopped on an error (before or outside a run's report) exits with."""
    if isinstance(error, ConfigError):
        return ExitCode.USAGE
    if isinstance(error, PipelineError) and error.retryable:
        return ExitCode.TEMPORARY
    if isinstance(error, PipelineError | KeyboardInterrupt):
        return ExitCode.FAILED
    return ExitCode.INTERNAL
