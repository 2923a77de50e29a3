"""Contract tests of approving and rejecting Pipeline inputs, against the local fake Jenkins.

They show the client keeps the Jenkins input and wfapi contract as the fake implements it from
Jenkins' sources; they are no proof of compatibility with a real Jenkins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline_steps.ci.jenkins import InputOutcome, JenkinsAuth, approve_input, reject_input
from pipeline_steps.errors import CIError, ConfigError
from tests.support.jenkins_server import TOKEN, USER, FakeInput, FakeJenkins

DECISION_POST = r"/job/app/7/input/[^/]+/(proceedEmpty|proceed|abort)"


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with FakeJenkins() as server:
        yield server


def auth_for(jenkins: FakeJenkins, user: str = USER, token: str = TOKEN) -> JenkinsAuth:
    return JenkinsAuth(jenkins.url, user=user, api_token=token, timeout=5, retry_backoff=0.01)


@pytest.mark.parametrize("given", ["release", "RELEASE", "Release"])
def test_approve_finds_the_input_whatever_the_case_and_posts_jenkins_spelling(jenkins: FakeJenkins, given: str) -> None:
    fake_input = FakeInput("release", message="Ship 1.4 to production?")
    jenkins.add_build("app", 7, inputs=[fake_input])

    decision = approve_input(jenkins.build_url("app", 7), given, auth=auth_for(jenkins))

    assert decision.input_id == "Release"
    assert decision.outcome is InputOutcome.APPROVED
    assert decision.message == "Ship 1.4 to production?"
    assert decision.user == USER
    assert (fake_input.outcome, fake_input.decided_by) == ("proceed", USER)
    [post] = jenkins.requests_to("POST", DECISION_POST)
    assert post.path == "/job/app/7/input/Release/proceedEmpty"
    assert post.user == USER
    assert post.crumb


def test_reject_aborts_the_input_and_the_build_ends_aborted(jenkins: FakeJenkins) -> None:
    fake_input = FakeInput("release")
    build = jenkins.add_build("app", 7, inputs=[fake_input])

    decision = reject_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))

    assert decision.outcome is InputOutcome.REJECTED
    assert fake_input.outcome == "abort"
    assert build.result == "ABORTED"
    assert [r.path for r in jenkins.requests_to("POST", DECISION_POST)] == ["/job/app/7/input/Release/abort"]


def test_approve_with_parameters_submits_them_as_the_input_form_does(jenkins: FakeJenkins) -> None:
    fake_input = FakeInput("release", parameters=("TARGET", "NOTE"))
    jenkins.add_build("app", 7, inputs=[fake_input])

    decision = approve_input(
        jenkins.build_url("app", 7), "release", auth=auth_for(jenkins), parameters={"TARGET": "eu-west", "NOTE": "go"}
    )

    assert decision.parameters == {"TARGET": "eu-west", "NOTE": "go"}
    [post] = jenkins.requests_to("POST", DECISION_POST)
    assert post.path == "/job/app/7/input/Release/proceed"
    assert json.loads(post.form["json"][0]) == {
        "parameter": [{"name": "TARGET", "value": "eu-west"}, {"name": "NOTE", "value": "go"}]
    }
    assert fake_input.values == [{"name": "TARGET", "value": "eu-west"}, {"name": "NOTE", "value": "go"}]


def test_a_parameter_the_input_does_not_declare_is_refused_before_anything_is_posted(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release", parameters=("TARGET",))])

    with pytest.raises(ConfigError, match=r"no parameter TARGT; it takes TARGET"):
        approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins), parameters={"TARGT": "x"})
    assert jenkins.requests_to("POST", ".*") == []


def test_an_unknown_input_id_lists_the_pending_ones(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release"), FakeInput("rollback")])

    with pytest.raises(CIError, match=r"no pending input 'deploy'; pending inputs: 'Release', 'Rollback'"):
        approve_input(jenkins.build_url("app", 7), "deploy", auth=auth_for(jenkins))
    assert jenkins.requests_to("POST", ".*") == []


def test_an_input_decided_earlier_is_no_longer_pending(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release"), FakeInput("smoke")])
    approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))

    with pytest.raises(CIError, match=r"no pending input 'release'; pending inputs: 'Smoke'") as caught:
        reject_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))
    assert "decided already" in str(caught.value)
    assert len(jenkins.requests_to("POST", DECISION_POST)) == 1


def test_an_input_decided_by_someone_else_meanwhile_is_reported_as_such(jenkins: FakeJenkins) -> None:
    fake_input = FakeInput("release", decided_elsewhere_after_listing=True)
    jenkins.add_build("app", 7, inputs=[fake_input, FakeInput("smoke")])

    with pytest.raises(CIError, match=r"decided by someone else while this request was on its way \(404\)"):
        approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))
    assert fake_input.decided_by == "someone-else"
    assert [r.path for r in jenkins.requests_to("POST", DECISION_POST)] == ["/job/app/7/input/Release/proceedEmpty"]


def test_a_finished_build_waits_for_no_input(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7)

    with pytest.raises(CIError, match=r"build #7 of app has finished \(SUCCESS\) and waits for no input"):
        approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))


def test_without_wfapi_the_error_names_the_plugin_to_install(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release")])
    jenkins.wfapi_installed = False

    with pytest.raises(CIError, match=r"Pipeline: Stage View / pipeline-rest-api plugin"):
        approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins))
    assert len(jenkins.requests_to("GET", r"/job/app/7/wfapi/pendingInputActions")) == 1


def test_a_missing_build_is_named_not_mistaken_for_a_missing_plugin(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release")])

    with pytest.raises(CIError, match=r"has no build #99 of app") as caught:
        approve_input(jenkins.build_url("app", 99), "release", auth=auth_for(jenkins))
    assert "plugin" not in str(caught.value)


def test_a_build_in_a_folder(jenkins: FakeJenkins) -> None:
    jenkins.add_build("team/app", 3, inputs=[FakeInput("release")])

    approve_input(jenkins.build_url("team/app", 3), "release", auth=auth_for(jenkins))

    assert [r.path for r in jenkins.requests_to("POST", ".*/proceedEmpty")] == [
        "/job/team/job/app/3/input/Release/proceedEmpty"
    ]


def test_a_user_without_the_permission_gets_a_403_error_naming_the_user() -> None:
    with FakeJenkins(users={"viewer": "viewer-token"}, readers=["viewer"]) as jenkins:
        fake_input = FakeInput("release")
        jenkins.add_build("app", 7, inputs=[fake_input])

        with pytest.raises(CIError, match=r"does not allow user 'viewer' to approve input 'Release'.*403"):
            approve_input(jenkins.build_url("app", 7), "release", auth=auth_for(jenkins, "viewer", "viewer-token"))
        assert fake_input.outcome is None
        assert len(jenkins.requests_to("POST", DECISION_POST)) == 1


def test_a_build_url_on_another_host_is_refused_before_credentials_are_sent(jenkins: FakeJenkins) -> None:
    jenkins.add_build("app", 7, inputs=[FakeInput("release")])

    with pytest.raises(ConfigError, match=r"is not on the Jenkins at"):
        approve_input("https://elsewhere.example.com/job/app/7/", "release", auth=auth_for(jenkins))
    assert jenkins.requests == []
