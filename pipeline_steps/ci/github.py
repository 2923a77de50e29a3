"""GitHub Actions: step outputs, the job summary, log groups, annotations and masks.

Functions here return workflow-command lines or append to the files GitHub names
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY); printing them is the command line's job.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline_steps.errors import CIError
from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus

OUTPUT_ENV = "GITHUB_OUTPUT"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

#: Output name -> RunReport.facts key. The action's outputs map these one to one.
FACT_OUTPUTS: dict[str, str] = {
    "active-role": "active_role",
    "idle-role": "idle_role",
    "previous-role": "previous_role",
    "target-role": "target_role",
    "image": "image",
    "image-digest": "image_digest",
    "public-url": "public_url",
    "preview-url": "preview_url",
}

# A random delimiter that happens to occur in the value is drawn again; a few tries are plenty.
_DELIMITER_TRIES = 8

_STATUS_MARKS: dict[StepStatus, str] = {
    StepStatus.SUCCEEDED: "✅",
    StepStatus.UNCHANGED: "✅",
    StepStatus.PLANNED: "📝",
    StepStatus.FAILED: "❌",
    StepStatus.ROLLED_BACK: "↩️",
    StepStatus.AWAITING_APPROVAL: "⏸️",
    StepStatus.REJECTED: "⛔",
    StepStatus.SKIPPED: "⏭️",
}


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs as a GitHub Actions step."""
    source = os.environ if env is None else env
    return source.get("GITHUB_ACTIONS") == "true"


# --- step outputs -----------------------------------------------------------------------------------


def random_delimiter() -> str:
    return f"ghadelimiter_{secrets.token_hex(16)}"


def format_output(name: str, value: str, *, new_delimiter: Callable[[], str] = random_delimiter) -> str:
    """One output in the file syntax: ``name=value``, or the heredoc form for values with line breaks.

    A value could otherwise end the heredoc early and inject outputs of its own, so the delimiter
    is random and is drawn again while it occurs anywhere in the value.
    """
    if not name or any(bad in name for bad in ("=", "<<", "\n", "\r")):
        raise CIError(f"invalid GitHub output name {name!r}", hint="names may not contain '=', '<<' or line breaks")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    for _ in range(_DELIMITER_TRIES):
        delimiter = new_delimiter()
        if delimiter and delimiter not in value and delimiter not in name:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    raise CIError(
        f"could not find a heredoc delimiter absent from the value of output {name!r}",
        hint="the delimiter source keeps returning text that occurs in the value",
    )


def report_outputs(report: RunReport) -> dict[str, str]:
    """The action's outputs, as strings; a fact the run did not gather is an empty string."""
    outputs = {
        "result": report.outcome,
        "exit-code": str(report.exit_code),
        "run-id": report.run_id,
    }
    facts = _with_digest(report.facts)
    for name, fact in FACT_OUTPUTS.items():
        outputs[name] = _text(facts.get(fact))
    outputs["report-json"] = json.dumps(report.to_dict(), sort_keys=True)
    return outputs


def write_outputs(
    report: RunReport, path: str | os.PathLike[str], *, new_delimiter: Callable[[], str] = random_delimiter
) -> None:
    """Append the report's outputs to the GITHUB_OUTPUT file at ``path``."""
    text = "".join(
        format_output(name, value, new_delimiter=new_delimiter) for name, value in report_outputs(report).items()
    )
    _append(path, text, what="step outputs")


# --- job summary ------------------------------------------------------------------------------------


def markdown_cell(value: object) -> str:
    """Text that stays inside one Markdown table cell, shown as written."""
    text = _text(value)
    for char, escaped in (("\\", "\\\\"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").replace("\n", "<br>")


def summary_markdown(report: RunReport) -> str:
    """The job summary for one run: steps, roles, images and checks."""
    title = f"pipeline-steps: {report.app} ({report.strategy}) {report.outcome or 'unknown'}"
    lines = [f"### {markdown_cell(title)}", ""]
    lines.append(
        _table(
            ["Run", "Namespace", "Dry run", "Exit code"],
            [[report.run_id, report.namespace, "yes" if report.dry_run else "no", report.exit_code]],
        )
    )
    lines.append(
        _table(
            ["Step", "Status", "Duration", "Summary"],
            [[step.name, _status(step), f"{step.duration_s:.1f} s", _step_summary(step)] for step in report.steps],
        )
    )
    roles = [(label, report.facts.get(key)) for label, key in _ROLE_FACTS]
    if any(value for _, value in roles):
        lines.append("#### Roles\n")
        lines.append(_table(["Role", "Colour"], [[label, value or "-"] for label, value in roles]))
    facts = _with_digest(report.facts)
    images = [(label, facts.get(key)) for label, key in _IMAGE_FACTS]
    if any(value for _, value in images):
        lines.append("#### Images and addresses\n")
        lines.append(_table(["What", "Value"], [[label, value or "-"] for label, value in images]))
    checks = [(step.name, check) for step in report.steps for check in step.checks]
    if checks:
        lines.append("#### Checks\n")
        lines.append(
            _table(
                ["Step", "Check", "Target", "Result", "Attempts", "Detail"],
                [
                    [step, check.name, check.target, _check_result(check), check.attempts, check.detail]
                    for step, check in checks
                ],
            )
        )
    if report.facts.get("not_checked"):
        # An offline plan (a dry-run without cluster credentials) says what only the cluster could tell.
        lines.append(f"#### Not checked\n\n{markdown_cell(report.facts.get('cluster') or '')}\n")
        lines.extend(f"- {markdown_cell(item)}" for item in str(report.facts["not_checked"]).split("; "))
        lines.append("")
    if report.warnings:
        lines.append("#### Warnings\n")
        lines.extend(f"- {markdown_cell(warning)}" for warning in report.warnings)
        lines.append("")
    return "\n".join(lines)


def write_summary(report: RunReport, path: str | os.PathLike[str]) -> None:
    """Append the run's Markdown summary to the GITHUB_STEP_SUMMARY file at ``path``."""
    _append(path, summary_markdown(report) + "\n", what="job summary")


_ROLE_FACTS = (
    ("active", "active_role"),
    ("idle", "idle_role"),
    ("previous", "previous_role"),
    ("target", "target_role"),
)
_IMAGE_FACTS = (
    ("image", "image"),
    ("digest", "image_digest"),
    ("public URL", "public_url"),
    ("preview URL", "preview_url"),
)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(markdown_cell(cell) for cell in header) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines.extend("| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def _status(step: StepReport) -> str:
    return f"{_STATUS_MARKS.get(step.status, '')} {step.status.value}".strip()


def _step_summary(step: StepReport) -> str:
    return f"{step.summary}\n{step.error}" if step.error else step.summary


def _check_result(check: CheckResult) -> str:
    return "✅ pass" if check.passed else "❌ fail"


# --- log groups, annotations, masks -----------------------------------------------------------------


def escape_data(value: str) -> str:
    """Escape a workflow command's message the way the runner unescapes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value; ':' and ',' separate properties."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str = "", **properties: str | None) -> str:
    """``::command key=value,...::message`` with both parts escaped; properties set to None are left out."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value is not None)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def start_group(title: str) -> str:
    return workflow_command("group", title)


def end_group() -> str:
    return workflow_command("endgroup")


@contextlib.contextmanager
def group(title: str, emit: Callable[[str], None]) -> Iterator[None]:
    """Fold the lines emitted inside into one collapsible log group; ``emit`` writes a line to the log."""
    emit(start_group(title))
    try:
        yield
    finally:
        emit(end_group())


def error_annotation(message: str, *, title: str | None = None) -> str:
    return workflow_command("error", message, title=title)


def warning_annotation(message: str, *, title: str | None = None) -> str:
    return workflow_command("warning", message, title=title)


def add_mask(value: str) -> str:
    """Ask the runner to hide ``value`` in the log from here on.

    The runner matches masks line by line, so a multi-line secret is masked as one mask per line.
    """
    lines = [line for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
    return "\n".join(workflow_command("add-mask", line) for line in lines)


# --- helpers ----------------------------------------------------------------------------------------


def _with_digest(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts with `image_digest` filled from the resolved reference (`repo@sha256:...`) when unset."""
    result = dict(facts)
    if not result.get("image_digest"):
        _, at, digest = str(result.get("image_ref") or "").partition("@")
        if at and digest:
            result["image_digest"] = digest
    return result


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _append(path: str | os.PathLike[str], text: str, *, what: str) -> None:
    target = Path(path)
    try:
        with target.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise CIError(
            f"cannot write the GitHub {what} to {target}: {exc.strerror or exc}",
            hint="the runner creates this file for each step; check the path in the environment",
        ) from exc
