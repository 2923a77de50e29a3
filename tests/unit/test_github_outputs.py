"""GITHUB_OUTPUT files, read back the way the Actions runner reads them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pipeline_steps.ci.github import format_output, in_github_actions, random_delimiter, report_outputs, write_outputs
from pipeline_steps.errors import CIError
from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus


def read_line(text: str, index: int) -> tuple[str | None, int, str | None]:
    """One line from ``index``: (line, next index, the newline that ended it or None at the end)."""
    if index >= len(text):
        return None, index, None
    lf = text.find("\n", index)
    if lf < 0:
        return text[index:], len(text), None
    crlf = text.find("\r\n", index)
    if 0 <= crlf < lf:
        return text[index:crlf], crlf + 2, "\r\n"
    return text[index:lf], lf + 1, "\n"


def parse_file_commands(text: str) -> list[tuple[str, str]]:
    """The runner's reading of an output file: ``name=value`` lines and ``name<<DELIM`` heredocs."""
    pairs: list[tuple[str, str]] = []
    line, index, _ = read_line(text, 0)
    while line is not None:
        if line:
            equals, heredoc = line.find("="), line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                name, value = line.split("=", 1)
            elif heredoc >= 0:
                name, delimiter = line.split("<<", 1)
                assert name and delimiter, f"invalid heredoc line {line!r}"
                start = end = index
                current, index, newline = read_line(text, index)
                while current != delimiter:
                    assert current is not None, f"delimiter {delimiter!r} never closes"
                    assert newline is not None, "the closing delimiter needs a newline"
                    end = index - len(newline)
                    current, index, newline = read_line(text, index)
                value = text[start:end] if end > start else ""
            else:
                raise AssertionError(f"invalid line {line!r}")
            pairs.append((name, value))
        line, index, _ = read_line(text, index)
    return pairs


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "a=b<<c",
        "two\nlines",
        "ends with a newline\n",
        "\nstarts with one",
        "windows\r\nline ends",
        "lone\rcarriage return",
        "looks like\nresult=ok\nan injected output",
        "contains a delimiter-like line\nghadelimiter_0123\nEOF",
    ],
)
def test_every_value_reads_back_unchanged(value: str) -> None:
    text = format_output("out", value)
    assert parse_file_commands(text) == [("out", value)]


def test_delimiter_occurring_in_the_value_is_drawn_again() -> None:
    value = "first line\nDELIM-1 is inside\nlast"
    draws = iter(["DELIM-1", "DELIM-2"])
    text = format_output("out", value, new_delimiter=lambda: next(draws))
    assert text.startswith("out<<DELIM-2\n")
    assert parse_file_commands(text) == [("out", value)]


def test_delimiter_that_always_occurs_in_the_value_is_an_error() -> None:
    with pytest.raises(CIError, match="delimiter"):
        format_output("out", "x\nSAME\ny", new_delimiter=lambda: "SAME")


def test_random_delimiters_differ() -> None:
    assert len({random_delimiter() for _ in range(20)}) == 20


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "a\nb"])
def test_output_names_that_would_break_the_file_are_refused(name: str) -> None:
    with pytest.raises(CIError, match="output name"):
        format_output(name, "value")


def sample_report() -> RunReport:
    return RunReport(
        app="shop",
        namespace="shop-prod",
        strategy="blue-green",
        run_id="1234-1",
        started_at="2024-05-01T10:00:00+00:00",
        finished_at="2024-05-01T10:03:00+00:00",
        exit_code=1,
        outcome="failed",
        steps=[
            StepReport("deploy", StepStatus.SUCCEEDED, "deployed green", duration_s=12.5),
            StepReport(
                "verify-staged",
                StepStatus.FAILED,
                "1 of 2 checks failed",
                duration_s=3.0,
                checks=[CheckResult("health", "http://green/healthz", False, 3, 1.5, "HTTP 503\nbody: down")],
                error="check health: HTTP 503",
            ),
        ],
        facts={
            "active_role": "blue",
            "target_role": "green",
            "image": "registry.local/shop:1.2",
            "image_digest": "sha256:abc",
            "public_url": "https://shop.example",
        },
    )


def test_write_outputs_appends_every_output(tmp_path: Path) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier=kept\n")
    report = sample_report()
    # Two different delimiters per call would still read back; a fixed sequence shows each value is framed.
    counter = itertools.count()
    write_outputs(report, path, new_delimiter=lambda: f"END{next(counter)}")

    outputs = dict(parse_file_commands(path.read_text()))
    assert outputs["earlier"] == "kept"
    assert outputs["result"] == "failed"
    assert outputs["exit-code"] == "1"
    assert outputs["run-id"] == "1234-1"
    assert outputs["active-role"] == "blue"
    assert outputs["target-role"] == "green"
    assert outputs["previous-role"] == ""
    assert outputs["image"] == "registry.local/shop:1.2"
    assert outputs["image-digest"] == "sha256:abc"
    assert outputs["public-url"] == "https://shop.example"
    assert json.loads(outputs["report-json"]) == report.to_dict()
    assert set(report_outputs(report)) <= set(outputs)


def test_write_outputs_to_a_missing_folder_is_a_ci_error(tmp_path: Path) -> None:
    with pytest.raises(CIError, match="missing"):
        write_outputs(sample_report(), tmp_path / "missing" / "out")


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("1", False), (None, False)])
def test_in_github_actions(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"GITHUB_ACTIONS": value}
    assert in_github_actions(env) is expected
