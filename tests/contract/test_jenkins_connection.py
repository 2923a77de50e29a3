"""Contract tests of how the Jenkins client authenticates, carries crumbs, retries and verifies TLS.

Against the local fake Jenkins, which enforces crumbs more strictly than Jenkins does for API tokens:
these show the client keeps the contract the fake implements, not compatibility with a real Jenkins.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme

from pipeline_steps.ci.jenkins import JenkinsAuth, approve_input
from pipeline_steps.errors import CIError, ConfigError
from tests.support.jenkins_server import CRUMB_REFUSED, TOKEN, USER, FakeInput, FakeJenkins

CRUMB_GET = r"/crumbIssuer/api/json"
WFAPI = r"/job/app/7/wfapi/pendingInputActions"
PROCEED = r"/job/app/7/input/Release/proceedEmpty"


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with FakeJenkins() as server:
        server.add_build("app", 7, inputs=[FakeInput("release")])
        yield server


def auth_for(
    jenkins: FakeJenkins, *, api_token: str = TOKEN, timeout: float = 5.0, ca_bundle: str | None = None
) -> JenkinsAuth:
    return JenkinsAuth(
        jenkins.url, user=USER, api_token=api_token, timeout=timeout, ca_bundle=ca_bundle, retry_backoff=0.01
    )


def approve(jenkins: FakeJenkins, auth: JenkinsAuth | None = None) -> None:
    approve_input(jenkins.build_url("app", 7), "release", auth=auth or auth_for(jenkins))


def test_credentials_from_the_environment_reach_the_server(jenkins: FakeJenkins) -> None:
    auth = JenkinsAuth.from_env(env={"JENKINS_URL": jenkins.url, "JENKINS_USER": USER, "JENKINS_API_TOKEN": TOKEN})

    approve(jenkins, auth)

    assert {r.user for r in jenkins.requests} == {USER}
    assert TOKEN not in repr(auth)


def test_a_user_without_a_token_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="JENKINS_API_TOKEN is not set"):
        JenkinsAuth.from_env(env={"JENKINS_URL": "https://jenkins.example.com", "JENKINS_USER": USER})


def test_bad_credentials_are_reported_once_without_retry_or_the_token(jenkins: FakeJenkins) -> None:
    with pytest.raises(CIError, match=r"rejected the credentials of user 'deployer' \(401\)") as caught:
        approve(jenkins, auth_for(jenkins, api_token="not-the-token"))

    assert "JENKINS_USER and JENKINS_API_TOKEN" in str(caught.value)
    assert "not-the-token" not in str(caught.value)
    assert len(jenkins.requests) == 1


def test_the_fake_refuses_a_post_without_a_crumb(jenkins: FakeJenkins) -> None:
    answer = requests.post(jenkins.url + PROCEED, auth=(USER, TOKEN), timeout=5)

    assert (answer.status_code, CRUMB_REFUSED in answer.text) == (403, True)


def test_a_post_carries_the_crumb_issued_to_its_own_session(jenkins: FakeJenkins) -> None:
    approve(jenkins)

    [crumb_get] = jenkins.requests_to("GET", CRUMB_GET)
    [post] = jenkins.requests_to("POST", PROCEED)
    assert jenkins.requests.index(crumb_get) < jenkins.requests.index(post)
    assert post.crumb and post.session
    assert crumb_get.user == post.user == USER


def test_an_expired_crumb_is_fetched_again_and_the_post_sent_once_more(jenkins: FakeJenkins) -> None:
    jenkins.expire_crumbs(after_next_issue=True)

    approve(jenkins)

    assert len(jenkins.requests_to("GET", CRUMB_GET)) == 2
    first, second = jenkins.requests_to("POST", PROCEED)
    assert first.crumb != second.crumb


def test_a_crumb_refused_again_after_one_refetch_is_an_error(jenkins: FakeJenkins) -> None:
    jenkins.expire_crumbs(after_next_issue=True)
    jenkins.expire_crumbs(after_next_issue=True)

    with pytest.raises(CIError, match=r"refused the CSRF crumb even after a fresh one"):
        approve(jenkins)
    assert len(jenkins.requests_to("GET", CRUMB_GET)) == 2
    assert len(jenkins.requests_to("POST", PROCEED)) == 2


def test_a_missing_crumb_is_fetched_when_the_post_turns_out_to_need_one(jenkins: FakeJenkins) -> None:
    jenkins.crumb_issuer_missing = 1  # the first crumb fetch finds no issuer, as with CSRF protection off

    approve(jenkins)

    first, second = jenkins.requests_to("POST", PROCEED)
    assert (first.crumb, bool(second.crumb)) == (None, True)


def test_no_crumb_is_sent_when_csrf_protection_is_off() -> None:
    with FakeJenkins(csrf=False) as jenkins:
        jenkins.add_build("app", 7, inputs=[FakeInput("release")])

        approve(jenkins)

        [post] = jenkins.requests_to("POST", PROCEED)
        assert post.crumb is None


def test_5xx_answers_are_retried(jenkins: FakeJenkins) -> None:
    jenkins.fail("GET", WFAPI, 503, times=2)

    approve(jenkins)

    assert len(jenkins.requests_to("GET", WFAPI)) == 3


def test_5xx_answers_give_up_after_the_bounded_tries(jenkins: FakeJenkins) -> None:
    jenkins.fail("GET", WFAPI, 503, times=10, body="<html><body><h1>Jenkins is restarting</h1></body></html>")

    with pytest.raises(CIError, match=r"answered 503 .*\(tried 3 times\).*Jenkins is restarting"):
        approve(jenkins)
    assert len(jenkins.requests_to("GET", WFAPI)) == 3


def test_4xx_answers_are_not_retried(jenkins: FakeJenkins) -> None:
    jenkins.fail("GET", WFAPI, 400, body="<html><body><h2>Bad request: tree</h2></body></html>")

    with pytest.raises(CIError, match=r"answered 400: Bad request: tree"):
        approve(jenkins)
    assert len(jenkins.requests_to("GET", WFAPI)) == 1


def test_a_timed_out_request_is_retried(jenkins: FakeJenkins) -> None:
    jenkins.delay("GET", WFAPI, 1.0)

    approve(jenkins, auth_for(jenkins, timeout=0.2))

    assert len(jenkins.requests_to("GET", WFAPI)) == 2


def test_an_unreachable_jenkins_names_the_host() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth = JenkinsAuth(f"http://127.0.0.1:{port}", user=USER, api_token=TOKEN, timeout=1, retry_backoff=0.01)

    with pytest.raises(CIError, match=rf"cannot reach Jenkins at 127.0.0.1:{port} .*\(tried 3 times\)"):
        approve_input(f"http://127.0.0.1:{port}/job/app/7/", "release", auth=auth)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def test_tls_is_verified_against_the_given_ca_bundle(ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with FakeJenkins(tls=_server_context(ca)) as jenkins:
        jenkins.add_build("app", 7, inputs=[FakeInput("release")])

        approve(jenkins, auth_for(jenkins, ca_bundle=str(bundle)))

        assert jenkins.url.startswith("https://")
        assert len(jenkins.requests_to("POST", PROCEED)) == 1


def test_an_untrusted_certificate_fails_at_once_with_a_ca_hint(ca: trustme.CA) -> None:
    with FakeJenkins(tls=_server_context(ca)) as jenkins:
        jenkins.add_build("app", 7, inputs=[FakeInput("release")])

        with pytest.raises(CIError, match=r"TLS to Jenkins at .* failed") as caught:
            approve(jenkins)

        assert "CA bundle" in str(caught.value)
        assert (jenkins.connections, jenkins.requests) == (1, [])  # a certificate is not asked for twice


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context
