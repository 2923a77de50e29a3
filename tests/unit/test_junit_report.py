"""JUnit XML of a run, parsed back and checked against what Jenkins' junit step reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline_steps.ci.junit import junit_xml, write_junit
from pipeline_steps.errors import CIError
from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus

STEP_ATTRS = {"classname", "name", "time"}


def every_status_report() -> RunReport:
    statuses = list(StepStatus)
    steps = [
        StepReport(f"step-{status.value}", status, f"summary of {status.value}", duration_s=1.5, error=None)
        for status in statuses
    ]
    for step in steps:
        if step.status in (StepStatus.FAILED, StepStatus.ROLLED_BACK, StepStatus.REJECTED):
            step.error = f"{step.name} broke\n\x1b[31mred\x1b[0m terminal text"
    steps[0].checks = [
        CheckResult("health", "http://green/healthz", True, 1, 0.25, "200"),
        CheckResult("api", "http://green/api", False, 4, 2.0, "HTTP 503\nretry budget spent"),
    ]
    steps[0].changes = ["patch Service/web"]
    steps[0].diff = "--- a\n+++ b\n"
    return RunReport(
        app="shop",
        namespace="prod",
        strategy="blue-green",
        run_id="9",
        started_at="2024-05-01T12:00:00+02:00",
        steps=steps,
        exit_code=1,
        outcome="failed",
        facts={"active_role": "blue", "image_digest": "sha256:1"},
    )


def parse(report: RunReport) -> ET.Element:
    return ET.fromstring(junit_xml(report).encode("utf-8"))


def test_one_suite_with_a_case_per_step_and_per_check() -> None:
    root = parse(every_status_report())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["pipeline-steps.shop"]
    cases = suites[0].findall("testcase")
    steps = [case for case in cases if case.get("classname") == "steps"]
    checks = [case for case in cases if case.get("classname") == "checks.step-succeeded"]
    assert [case.get("name") for case in steps] == [f"step-{status.value}" for status in StepStatus]
    assert [case.get("name") for case in checks] == ["health", "api"]
    assert len(cases) == len(steps) + len(checks)
    assert all(set(case.attrib) >= STEP_ATTRS for case in cases)


def test_failed_rolled_back_and_rejected_steps_fail_with_their_error() -> None:
    cases = {case.get("name"): case for case in parse(every_status_report()).iter("testcase")}
    for status in ("failed", "rolled-back", "rejected"):
        failure = cases[f"step-{status}"].find("failure")
        assert failure is not None, status
        assert failure.get("message") == f"summary of {status}"
        assert failure.get("type") == status
        assert failure.text is not None and failure.text.startswith(f"step-{status} broke\n")
        # Terminal colour codes are not XML; they arrive as visible escapes.
        assert "\\x1b[31mred" in failure.text


def test_skipped_and_awaiting_steps_are_skipped_and_the_rest_pass() -> None:
    cases = {case.get("name"): case for case in parse(every_status_report()).iter("testcase")}
    for status in ("skipped", "awaiting-approval"):
        assert cases[f"step-{status}"].find("skipped") is not None, status
        assert cases[f"step-{status}"].find("failure") is None
    for status in ("succeeded", "unchanged", "planned"):
        case = cases[f"step-{status}"]
        assert case.find("failure") is None and case.find("skipped") is None, status


def test_checks_fail_with_target_and_attempts() -> None:
    cases = {case.get("name"): case for case in parse(every_status_report()).iter("testcase")}
    assert cases["health"].find("failure") is None
    failure = cases["api"].find("failure")
    assert failure is not None
    assert failure.get("message") == "HTTP 503"
    assert failure.text == "target: http://green/api\nattempts: 4\nHTTP 503\nretry budget spent"
    assert cases["api"].get("time") == "2.000"


def test_counts_agree_with_the_cases() -> None:
    root = parse(every_status_report())
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    expected = {
        "tests": str(len(cases)),
        "failures": str(sum(case.find("failure") is not None for case in cases)),
        "errors": "0",
        "skipped": str(sum(case.find("skipped") is not None for case in cases)),
        "time": f"{1.5 * len(StepStatus):.3f}",
    }
    assert expected["failures"] == "4"
    assert expected["skipped"] == "2"
    assert {key: suite.get(key) for key in expected} == expected
    del expected["skipped"]
    assert {key: root.get(key) for key in expected} == expected


def test_suite_properties_and_timestamp() -> None:
    suite = parse(every_status_report()).find("testsuite")
    assert suite is not None
    assert suite.get("timestamp") == "2024-05-01T10:00:00"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run_id"] == "9"
    assert properties["outcome"] == "failed"
    assert properties["dry_run"] == "false"
    assert properties["fact.active_role"] == "blue"


def test_planned_changes_and_diff_are_in_the_step_output() -> None:
    cases = {case.get("name"): case for case in parse(every_status_report()).iter("testcase")}
    output = cases["step-succeeded"].findtext("system-out")
    assert output is not None
    assert "patch Service/web" in output and "+++ b" in output


def test_an_empty_run_is_still_a_valid_document() -> None:
    root = parse(RunReport(app="a", namespace="n", strategy="rolling", run_id="r", started_at="not a date"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "0" and suite.get("timestamp") is None


def test_write_junit_creates_the_folder(tmp_path: Path) -> None:
    path = write_junit(every_status_report(), tmp_path / "reports" / "deploy.xml")
    assert ET.parse(path).getroot().tag == "testsuites"


def test_write_junit_to_an_unwritable_place_is_a_ci_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(CIError, match="JUnit"):
        write_junit(every_status_report(), blocker / "deploy.xml")
