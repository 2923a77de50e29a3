"""Contract tests of `pipeline-steps jenkins trigger|approve|reject` as a pipeline calls them, against the
local fake Jenkins: credentials from the environment, the console streamed to stderr, the result on stdout,
and the exit code a calling job acts on.

Like the other contract tests they show the command line keeps the contract the fake implements from
Jenkins' sources (queue item -> build -> progressiveText -> result; wfapi inputs); they are no proof of
compatibility with a real Jenkins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline_steps.cli import main
from pipeline_steps.outcome import ExitCode
from tests.support.jenkins_server import TOKEN, USER, BuildPlan, FakeInput, FakeJenkins

CONSOLE = [
    "Started by user deployer\n",
    "[Pipeline] stage (Deploy)\n",
    "+ pipeline-steps step deploy -c deploy/pipeline.yaml --state .pipeline-steps/state/shop.json\n",
    "<== deploy: ok (12.0s): apply 2 objects to role green: rolled out\n",
    "Finished: SUCCESS\n",
]
FAST = ["--poll-interval", "0.01", "--timeout", "30"]


@pytest.fixture
def jenkins(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJenkins]:
    with FakeJenkins() as server:
        monkeypatch.setenv("JENKINS_URL", server.url)
        monkeypatch.setenv("JENKINS_USER", USER)
        monkeypatch.setenv("JENKINS_API_TOKEN", TOKEN)
        yield server


def test_trigger_follows_queue_and_build_streams_the_console_and_exits_0(
    jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]
) -> None:
    job = jenkins.add_job("release", parameters=["IMAGE", "DRY_RUN"], plans=[BuildPlan(CONSOLE, queue_polls=3)])

    code = main(["jenkins", "trigger", "--job", "release", "--param", "IMAGE=registry/shop:1.4", *FAST])

    out, err = capsys.readouterr()
    assert code == ExitCode.OK, err
    assert err == "".join(CONSOLE)  # the console, in order, each chunk once, on stderr
    assert "result=SUCCESS" in out and "number=1" in out
    assert f"url={jenkins.build_url('release', 1)}" in out
    assert job.builds[1].parameters == {"IMAGE": "registry/shop:1.4"}
    # The queue item was followed until it named its build, then the console from where it left off.
    assert len(jenkins.requests_to("GET", r"/queue/item/[0-9]+/api/json")) == 4
    starts = [int(r.query["start"][0]) for r in jenkins.requests_to("GET", r"/job/release/1/logText/progressiveText")]
    assert starts == sorted(starts) and starts[0] == 0
    [post] = jenkins.requests_to("POST", r"/job/release/buildWithParameters")
    assert post.user == USER and post.crumb


def test_trigger_json_output_carries_the_build(jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]) -> None:
    jenkins.add_job("team/release", parameters=["IMAGE"], plans=[BuildPlan(CONSOLE)])

    code = main(["jenkins", "trigger", "--job", "team/release", "--param", "IMAGE=x:1", "--output", "json", *FAST])

    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    data = json.loads(out)
    assert data["job_name"] == "team/release"
    assert (data["number"], data["result"]) == (1, "SUCCESS")
    assert data["url"] == jenkins.build_url("team/release", 1)
    assert data["queue_url"].startswith(f"{jenkins.url}/queue/item/")


@pytest.mark.parametrize("result", ["FAILURE", "UNSTABLE", "ABORTED"])
def test_a_build_that_does_not_succeed_exits_1_with_its_result(
    jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str], result: str
) -> None:
    jenkins.add_job("release", plans=[BuildPlan(["boom\n", f"Finished: {result}\n"], result=result)])

    code = main(["jenkins", "trigger", "--job", "release", *FAST])

    out, err = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert f"result={result}" in out
    assert err.endswith(f"Finished: {result}\n")


def test_an_undeclared_parameter_is_a_usage_error_and_starts_nothing(
    jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]
) -> None:
    job = jenkins.add_job("release", parameters=["IMAGE"])

    code = main(["jenkins", "trigger", "--job", "release", "--param", "IMAGE_TAG=1.4", *FAST])

    _, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "no parameter IMAGE_TAG" in err and "it takes IMAGE" in err
    assert jenkins.requests_to("POST", ".*") == []
    assert job.builds == {}


def test_a_build_stuck_in_the_queue_fails_at_the_timeout_naming_the_reason(
    jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]
) -> None:
    jenkins.add_job("release", plans=[BuildPlan(queue_polls=1_000_000)])

    code = main(["jenkins", "trigger", "--job", "release", "--poll-interval", "0.02", "--timeout", "0.3"])

    _, err = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert "did not start within 0.3s" in err and "still queued" in err


def test_approve_proceeds_the_release_input(jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]) -> None:
    approval = FakeInput("ReleaseApproval", message="Switch public traffic of shop?")
    jenkins.add_build("release", 42, inputs=[approval])

    code = main(["jenkins", "approve", "--build", jenkins.build_url("release", 42)])

    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    assert (approval.outcome, approval.decided_by) == ("proceed", USER)
    assert "input_id=ReleaseApproval" in out


def test_reject_aborts_the_release_input(jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]) -> None:
    approval = FakeInput("ReleaseApproval")
    build = jenkins.add_build("release", 42, inputs=[approval])

    code = main(["jenkins", "reject", "--build", jenkins.build_url("release", 42), "--output", "json"])

    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    assert json.loads(out)["input_id"] == "ReleaseApproval"
    assert approval.outcome == "abort"
    assert build.result == "ABORTED"


def test_without_a_jenkins_url_the_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JENKINS_URL", raising=False)

    code = main(["jenkins", "trigger", "--job", "release"])

    _, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "JENKINS_URL" in err
