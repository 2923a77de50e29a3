"""The run report as JUnit XML, the format Jenkins' ``junit`` step and most CI test views read.

One testsuite per run; a testcase per step (classname ``steps``) and per check (``checks.<step>``).
"""

from __future__ import annotations

import datetime
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from pipeline_steps.errors import CIError
from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus

_FAILING = frozenset({StepStatus.FAILED, StepStatus.ROLLED_BACK, StepStatus.REJECTED})
_NOT_RUN = frozenset({StepStatus.SKIPPED, StepStatus.AWAITING_APPROVAL})

# Characters XML 1.0 cannot carry at all; terminal colour codes in command output are the usual ones.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(report: RunReport) -> str:
    """The report as a JUnit XML document (``testsuites`` root), with its XML declaration."""
    root = _build(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the JUnit XML to ``path``, creating its folder; returns the path written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(junit_xml(report), encoding="utf-8")
    except OSError as exc:
        raise CIError(
            f"cannot write the JUnit report to {target}: {exc.strerror or exc}",
            hint="choose a --junit-xml path in a writable folder",
        ) from exc
    return target


def _build(report: RunReport) -> ET.Element:
    cases = [_step_case(step) for step in report.steps]
    cases += [_check_case(step.name, check) for step in report.steps for check in step.checks]
    failures = sum(1 for case in cases if case.find("failure") is not None)
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    # Checks run inside their step, so the steps alone add up to the run's time.
    seconds = _seconds(sum(step.duration_s for step in report.steps))
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": seconds,
    }

    # The schema Jenkins' readers follow has no skipped count on the root; only the suite carries it.
    root = ET.Element("testsuites", {"name": "pipeline-steps", **{k: v for k, v in counts.items() if k != "skipped"}})
    suite = ET.SubElement(root, "testsuite", {"name": f"pipeline-steps.{_clean(report.app)}", **counts})
    timestamp = _timestamp(report.started_at)
    if timestamp:
        suite.set("timestamp", timestamp)
    suite.set("id", "0")
    suite.set("package", "pipeline-steps")
    properties = ET.SubElement(suite, "properties")
    facts = {f"fact.{key}": value for key, value in sorted(report.facts.items())}
    for name, value in {
        "run_id": report.run_id,
        "namespace": report.namespace,
        "strategy": report.strategy,
        "dry_run": report.dry_run,
        "outcome": report.outcome,
        "exit_code": report.exit_code,
        **facts,
    }.items():
        ET.SubElement(properties, "property", {"name": name, "value": _clean(_text(value))})
    suite.extend(cases)
    # The Ant schema asks for both, even empty; the per-case output sits in each testcase.
    ET.SubElement(suite, "system-out")
    ET.SubElement(suite, "system-err")
    return root


def _step_case(step: StepReport) -> ET.Element:
    case = ET.Element("testcase", {"classname": "steps", "name": _clean(step.name), "time": _seconds(step.duration_s)})
    if step.status in _FAILING:
        failure = ET.SubElement(case, "failure", {"message": _clean(step.summary), "type": step.status.value})
        failure.text = _clean(step.error or step.summary)
    elif step.status in _NOT_RUN:
        ET.SubElement(case, "skipped", {"message": _clean(f"{step.status.value}: {step.summary}")})
    output = _step_output(step)
    if output:
        ET.SubElement(case, "system-out").text = _clean(output)
    return case


def _check_case(step_name: str, check: CheckResult) -> ET.Element:
    attributes = {"classname": _clean(f"checks.{step_name}"), "name": _clean(check.name)}
    case = ET.Element("testcase", {**attributes, "time": _seconds(check.duration_s)})
    if not check.passed:
        first_line = check.detail.splitlines()[0] if check.detail.strip() else "check did not pass"
        failure = ET.SubElement(case, "failure", {"message": _clean(first_line), "type": "check-failed"})
        failure.text = _clean(f"target: {check.target}\nattempts: {check.attempts}\n{check.detail}".rstrip())
    else:
        ET.SubElement(case, "system-out").text = _clean(
            f"target: {check.target}\nattempts: {check.attempts}\n{check.detail}".rstrip()
        )
    return case


def _step_output(step: StepReport) -> str:
    parts = [f"{step.status.value}: {step.summary}"]
    if step.changes:
        parts.append("changes:\n" + "\n".join(f"  {change}" for change in step.changes))
    if step.diff:
        parts.append(step.diff.rstrip("\n"))
    return "\n".join(parts)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _timestamp(iso: str) -> str:
    """The schema's timestamp: ISO 8601 without a zone, taken as UTC."""
    if not iso:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _clean(text: str) -> str:
    """Text XML can carry: characters it forbids are written as visible escapes instead of breaking the file."""
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
