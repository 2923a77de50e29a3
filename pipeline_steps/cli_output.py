"""How results reach people and machines: text or JSON on stdout, report files, GitHub workflow commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline_steps.ci import github, junit
from pipeline_steps.report import RunReport, StepReport, StepStatus

_MARKS = {
    StepStatus.SUCCEEDED: "ok",
    StepStatus.UNCHANGED: "unchanged",
    StepStatus.PLANNED: "planned",
    StepStatus.FAILED: "FAILED",
    StepStatus.ROLLED_BACK: "ROLLED BACK",
    StepStatus.AWAITING_APPROVAL: "awaiting approval",
    StepStatus.REJECTED: "REJECTED",
    StepStatus.SKIPPED: "skipped",
}


def step_line(step: StepReport) -> str:
    return f"<== {step.name}: {_MARKS[step.status]} ({step.duration_s:.1f}s): {step.summary}"


def text_report(report: RunReport) -> str:
    title = "plan" if report.dry_run else "release"
    lines = [f"{title} of {report.app} in {report.namespace} ({report.strategy}), run {report.run_id}"]
    for step in report.steps:
        lines.append(f"  {step.name:<14} {_MARKS[step.status]:<18} {step.summary}")
        for change in step.changes:
            lines.append(f"  {'':<14} - {change}")
        for check in step.checks:
            lines.append(f"  {'':<14} {'pass' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        if report.dry_run and step.diff:
            lines.extend(f"  {'':<14} {line}" for line in step.diff.rstrip("\n").splitlines())
    for key, value in report.facts.items():
        lines.append(f"  {key}: {value}")
    lines.extend(f"  warning: {warning}" for warning in report.warnings)
    lines.append(f"outcome: {report.outcome} (exit {report.exit_code})")
    return "\n".join(lines)


@dataclasses.dataclass
class GithubReporter:
    """Workflow commands and files of GitHub Actions, when the CLI runs there."""

    enabled: bool
    env: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GithubReporter:
        return cls(github.in_github_actions(env), env)

    def start_group(self, name: str) -> None:
        if self.enabled:
            print(github.start_group(name), file=sys.stderr, flush=True)

    def end_group(self, step: StepReport) -> None:
        if not self.enabled:
            return
        print(github.end_group(), file=sys.stderr, flush=True)
        if step.status in (StepStatus.FAILED, StepStatus.ROLLED_BACK, StepStatus.REJECTED):
            # Workflow commands go to stderr (the runner reads both): stdout carries only the result, so
            # `--output json` stays parseable by the next step.
            print(
                github.error_annotation(step.summary, title=f"pipeline-steps {step.name}"), file=sys.stderr, flush=True
            )

    def finish(self, report: RunReport) -> None:
        if not self.enabled:
            return
        if self.env.get("GITHUB_OUTPUT"):
            github.write_outputs(report, Path(self.env["GITHUB_OUTPUT"]))
        if self.env.get("GITHUB_STEP_SUMMARY"):
            github.write_summary(report, Path(self.env["GITHUB_STEP_SUMMARY"]))


def emit(report: RunReport, args: argparse.Namespace, reporter: GithubReporter) -> None:
    data = report.to_dict()
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(data, indent=2) + "\n")
    if args.junit_xml:
        junit.write_junit(report, Path(args.junit_xml))
    reporter.finish(report)
    print(json.dumps(data, indent=2) if args.output == "json" else text_report(report), flush=True)


def write_error_report(path: str | None, message: str, outcome: str, exit_code: int) -> None:
    """The run report of a command that stopped before its run had one: CI still finds the file and why."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    data = {"outcome": outcome, "exit_code": exit_code, "error": message, "steps": []}
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def print_data(data: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())


def error(message: str, env: Mapping[str, str]) -> None:
    print(message, file=sys.stderr, flush=True)
    if github.in_github_actions(env):
        print(github.error_annotation(message, title="pipeline-steps"), file=sys.stderr, flush=True)
