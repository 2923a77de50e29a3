"""Workflow commands (groups, annotations, masks), read back the way the Actions runner parses them."""

from __future__ import annotations

import re

import pytest

from pipeline_steps import cli_output
from pipeline_steps.ci.github import add_mask, end_group, error_annotation, group, start_group, warning_annotation
from pipeline_steps.cli_output import GithubReporter
from pipeline_steps.report import StepReport, StepStatus

_COMMAND = re.compile(r"^::(?P<command>[a-z-]+)(?: (?P<properties>[^:]*))?::(?P<data>.*)$")


def unescape_data(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(value: str) -> str:
    return unescape_data(value.replace("%3A", ":").replace("%2C", ","))


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """One workflow command line as the runner splits it: properties at ',' and '=', data after '::'."""
    assert "\n" not in line and "\r" not in line, f"a command must be one line: {line!r}"
    match = _COMMAND.match(line)
    assert match, f"not a workflow command: {line!r}"
    properties: dict[str, str] = {}
    if match["properties"]:
        for pair in match["properties"].split(","):
            key, value = pair.split("=", 1)
            properties[key] = unescape_property(value)
    return match["command"], properties, unescape_data(match["data"])


def test_error_annotation_reads_back_with_awkward_title_and_message() -> None:
    title = "deploy: 50% done, then\nfailed"
    message = "rollout of web: 0/3 ready\r\n100% of pods crashed: see ::logs::"
    command, properties, data = parse_command(error_annotation(message, title=title))
    assert command == "error"
    assert properties == {"title": title}
    assert data == message


def test_error_annotation_without_title_has_no_properties() -> None:
    assert error_annotation("plain") == "::error::plain"
    assert warning_annotation("careful", title="t") == "::warning title=t::careful"


def test_groups_are_framed_even_when_the_body_fails() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), group("step: deploy\nsecond line", lines.append):
        lines.append("inside")
        raise RuntimeError("step failed")
    assert lines[1] == "inside"
    assert parse_command(lines[0]) == ("group", {}, "step: deploy\nsecond line")
    assert lines[2] == end_group() == "::endgroup::"
    assert start_group("x") == "::group::x"


def test_add_mask_masks_each_line_of_a_multi_line_secret() -> None:
    lines = add_mask("token-one\r\n\n  token%two  \n").split("\n")
    assert [parse_command(line) for line in lines] == [
        ("add-mask", {}, "token-one"),
        ("add-mask", {}, "  token%two  "),
    ]


def test_add_mask_of_a_single_value() -> None:
    assert parse_command(add_mask("s3cr3t")) == ("add-mask", {}, "s3cr3t")


def test_a_failed_step_annotates_on_stderr_and_leaves_stdout_to_the_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = GithubReporter(enabled=True, env={})
    reporter.end_group(StepReport("verify-prod", StepStatus.ROLLED_BACK, "2 of 2 prod checks failed"))
    out, err = capsys.readouterr()
    assert out == ""
    assert "::error title=pipeline-steps verify-prod::2 of 2 prod checks failed" in err


def test_an_error_of_the_command_annotates_on_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    cli_output.error("error: pipeline.yaml:3: app: required", {"GITHUB_ACTIONS": "true"})
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: pipeline.yaml:3: app: required\n::error title=pipeline-steps::")
