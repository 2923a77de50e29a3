"""Contract tests of triggering a Jenkins build: queue, console, result, against the local fake Jenkins.

They show the client keeps the buildWithParameters / queue item / progressiveText contract as the fake
implements it from Jenkins' sources; they are no proof of compatibility with a real Jenkins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pipeline_steps.ci.jenkins import BuildResult, JenkinsAuth, trigger_build
from pipeline_steps.errors import CIError, ConfigError
from tests.support.jenkins_server import TOKEN, USER, BuildPlan, FakeJenkins

CONSOLE = [
    "Started by user deployer\n",
    "[Pipeline] stage (Deploy)\n",
    "kubectl rollout status deployment/web\n",
    'deployment "web" successfully rolled out\n',
    "Finished: SUCCESS\n",
]
QUEUE_ITEM = r"/queue/item/[0-9]+/api/json"


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with FakeJenkins() as server:
        yield server


def auth_for(jenkins: FakeJenkins) -> JenkinsAuth:
    return JenkinsAuth(jenkins.url, user=USER, api_token=TOKEN, timeout=5, retry_backoff=0.01)


def trigger(
    jenkins: FakeJenkins,
    job: str = "deploy",
    *,
    parameters: dict[str, str] | None = None,
    on_output: Callable[[str], None] | None = None,
    timeout: float = 30.0,
    poll_interval: float = 0.01,
) -> BuildResult:
    return trigger_build(
        job,
        auth=auth_for(jenkins),
        parameters=parameters,
        on_output=on_output,
        timeout=timeout,
        poll_interval=poll_interval,
    )


def test_a_build_goes_through_the_queue_and_its_console_arrives_in_order(jenkins: FakeJenkins) -> None:
    job = jenkins.add_job("deploy", parameters=["IMAGE", "ENV"], plans=[BuildPlan(console=CONSOLE, queue_polls=2)])
    output: list[str] = []

    result = trigger_build(
        "deploy",
        auth=auth_for(jenkins),
        parameters={"IMAGE": "registry/web:1.4", "ENV": "prod"},
        on_output=output.append,
        poll_interval=0.01,
        timeout=30,
    )

    assert (result.result, result.succeeded, result.number) == ("SUCCESS", True, 1)
    assert result.url == jenkins.build_url("deploy", 1)
    assert result.queue_url == f"{jenkins.url}/queue/item/41/"
    assert output == CONSOLE  # one chunk per read here: each arrived once, in order
    [post] = jenkins.requests_to("POST", r"/job/deploy/buildWithParameters")
    assert post.form == {"IMAGE": ["registry/web:1.4"], "ENV": ["prod"]}
    assert post.crumb and post.user == USER
    assert job.builds[1].parameters == {"IMAGE": "registry/web:1.4", "ENV": "prod"}
    assert len(jenkins.requests_to("GET", QUEUE_ITEM)) == 3
    starts = [int(r.query["start"][0]) for r in jenkins.requests_to("GET", r"/job/deploy/1/logText/progressiveText")]
    sizes = [len("".join(CONSOLE[:n]).encode()) for n in range(len(CONSOLE))]
    assert starts == sizes  # each read starts where the previous one's X-Text-Size ended


def test_a_character_split_between_two_reads_arrives_whole(jenkins: FakeJenkins) -> None:
    text = "Deploying café ✓\n".encode()
    split = text.index(b"\xc3") + 1  # between the two bytes of é
    jenkins.add_job("deploy", plans=[BuildPlan(console=[text[:split], text[split:]])])
    output: list[str] = []

    trigger(jenkins, on_output=output.append)

    assert "".join(output) == "Deploying café ✓\n"


def test_a_failed_build_is_a_result_not_an_error(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", plans=[BuildPlan(console=["boom\n", "Finished: FAILURE\n"], result="FAILURE")])
    output: list[str] = []

    result = trigger(jenkins, on_output=output.append)

    assert (result.result, result.succeeded) == ("FAILURE", False)
    assert "".join(output).endswith("Finished: FAILURE\n")


def test_without_an_output_callback_the_console_is_not_read(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", plans=[BuildPlan(console=CONSOLE, result="UNSTABLE")])

    result = trigger(jenkins)

    assert result.result == "UNSTABLE"
    assert jenkins.requests_to("GET", r".*/logText/progressiveText") == []


def test_a_cancelled_queue_item_is_an_error(jenkins: FakeJenkins) -> None:
    job = jenkins.add_job("deploy", plans=[BuildPlan(cancelled=True)])

    with pytest.raises(CIError, match=r"queued build of job 'deploy' was cancelled before it started"):
        trigger(jenkins)
    assert job.builds == {}


def test_a_job_without_parameters_is_started_with_build(jenkins: FakeJenkins) -> None:
    jenkins.add_job("nightly")

    trigger(jenkins, "nightly")

    assert [r.path for r in jenkins.requests_to("POST", ".*")] == ["/job/nightly/build"]


def test_a_job_in_a_folder_by_name_and_by_url(jenkins: FakeJenkins) -> None:
    jenkins.add_job("team/deploy", parameters=["IMAGE"])

    trigger(jenkins, "team/deploy", parameters={"IMAGE": "a"})
    trigger(jenkins, f"{jenkins.url}/job/team/job/deploy/", parameters={"IMAGE": "b"})

    paths = [r.path for r in jenkins.requests_to("POST", ".*")]
    assert paths == ["/job/team/job/deploy/buildWithParameters"] * 2


def test_a_multibranch_branch_with_a_slash_keeps_jenkins_double_encoding(jenkins: FakeJenkins) -> None:
    jenkins.add_job("web/feature%2Flogin")  # how Jenkins names the job of branch feature/login

    trigger(jenkins, "web/feature%2Flogin")

    assert [r.path for r in jenkins.requests_to("POST", ".*")] == ["/job/web/job/feature%252Flogin/build"]


def test_a_queue_location_on_jenkins_own_root_url_is_followed_on_the_configured_url(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy")
    jenkins.root_url = "http://jenkins.internal:8080"  # the root URL set in Jenkins differs, as behind a proxy

    result = trigger(jenkins)

    assert result.queue_url == f"{jenkins.url}/queue/item/41/"
    assert len(jenkins.requests_to("GET", QUEUE_ITEM)) == 2


def test_a_parameter_the_job_does_not_declare_is_refused_before_anything_starts(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", parameters=["IMAGE"])

    with pytest.raises(ConfigError, match=r"job 'deploy' has no parameter IMAGES; it takes IMAGE"):
        trigger(jenkins, parameters={"IMAGES": "web:1"})
    assert jenkins.requests_to("POST", ".*") == []


def test_a_missing_job_is_named(jenkins: FakeJenkins) -> None:
    with pytest.raises(CIError, match=r"has no job 'nope'"):
        trigger(jenkins, "nope")


def test_5xx_while_following_the_queue_is_retried(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", plans=[BuildPlan(queue_polls=0)])
    jenkins.fail("GET", QUEUE_ITEM, 502, times=2)

    result = trigger(jenkins)

    assert result.result == "SUCCESS"
    assert len(jenkins.requests_to("GET", QUEUE_ITEM)) == 3


def test_4xx_when_starting_is_not_retried(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", parameters=["IMAGE"])
    jenkins.fail("POST", r"/job/deploy/buildWithParameters", 400, body="<html><h2>Bad parameter value</h2></html>")

    with pytest.raises(CIError, match=r"refused to start job deploy: .* answered 400: Bad parameter value"):
        trigger(jenkins)
    assert len(jenkins.requests_to("POST", ".*")) == 1
    assert jenkins.queue == {}


def test_a_build_that_never_starts_ends_at_the_deadline_with_the_queue_reason(jenkins: FakeJenkins) -> None:
    jenkins.add_job("deploy", plans=[BuildPlan(queue_polls=1_000_000)])

    with pytest.raises(CIError, match=r"did not start within 0.2s; it is still queued: Waiting for next available"):
        trigger(jenkins, timeout=0.2, poll_interval=0.02)
