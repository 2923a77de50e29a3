"""The confirm step e-mailing through real SMTP servers, on the cluster: what the approver receives, and what
the step does (status, exit code, message, the approval record it leaves) when the mail cannot go out: wrong
password, untrusted certificate, a server that never greets, a server without STARTTLS while credentials are
set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps import approvals
from pipeline_steps.notify.approval_message import RUN_ID_HEADER
from pipeline_steps.outcome import ExitCode
from pipeline_steps.report import StepStatus
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.confirm_context import NEW_IMAGE, OLD_IMAGE, PREVIEW, RUN_ID, Setups
from tests.support.smtp_server import (
    PASSWORD,
    USERNAME,
    Certificates,
    RunningServer,
    ServerMode,
    silent_server,
    smtp_server,
)

JENKINS_ENV = {"BUILD_URL": "https://jenkins.example.com/job/web/42/"}


@pytest.fixture
def setup(cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Setups:
    return Setups(cluster, namespace, monkeypatch)


def mail_section(port: int, ca_file: Path | None, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "from": "Release pipeline <ci@example.com>",
        "to": "ops@example.com",
        "username": USERNAME,
        "password_env": "SMTP_PASSWORD",
        "timeout": "1s",
        "retry_for": "1s",
        **extra,
    }
    if ca_file is not None:
        section["ca_file"] = str(ca_file)
    return section


def test_jenkins_gate_mail_carries_the_release_and_the_input_page(
    setup: Setups, starttls_server: RunningServer, certificates: Certificates
) -> None:
    s = setup(
        "jenkins",
        mail=mail_section(starttls_server.port, certificates.ca_file),
        env={**JENKINS_ENV, "SMTP_PASSWORD": PASSWORD},
    )

    report = s.run()

    assert report.steps[0].status == StepStatus.AWAITING_APPROVAL, report.steps[0]
    assert "e-mailed ops@example.com" in report.steps[0].summary
    [message] = starttls_server.log.messages
    assert message["Subject"].strip() == (
        f"[pipeline-steps] Approve release of web to {s.namespace}: green (run {RUN_ID})"
    )
    assert message["To"] == "ops@example.com"
    assert message[RUN_ID_HEADER] == RUN_ID
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    for part in (plain.get_content(), html.get_content()):
        for expected in ("web", s.namespace, "blue", "green", OLD_IMAGE, NEW_IMAGE, PREVIEW, "staged answers"):
            assert expected in part
        assert "https://jenkins.example.com/job/web/42/input/" in part


def test_wait_mail_tells_the_approve_command(
    setup: Setups, starttls_server: RunningServer, certificates: Certificates
) -> None:
    s = setup(
        "wait",
        mail=mail_section(starttls_server.port, certificates.ca_file),
        env={**JENKINS_ENV, "SMTP_PASSWORD": PASSWORD},
    )
    s.decide("approved")

    assert s.run().exit_code == ExitCode.OK
    [message] = starttls_server.log.messages
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert f"pipeline-steps approve -c deploy/pipeline.yaml --namespace {s.namespace} --run-id {RUN_ID}" in text
    assert "jenkins.example.com" not in text


def test_wrong_password_fails_the_step(
    setup: Setups, starttls_server: RunningServer, certificates: Certificates
) -> None:
    s = setup(
        "wait",
        mail=mail_section(starttls_server.port, certificates.ca_file),
        env={"SMTP_PASSWORD": "not-the-password"},
    )
    s.decide("approved")  # would approve if the step waited: it must not get that far

    report = s.run("confirm", "switch")

    assert [step.name for step in report.steps] == ["confirm"]
    [step] = report.steps
    assert step.status == StepStatus.FAILED
    assert "approval e-mail not sent: authentication failed for user release-bot" in step.summary
    assert "SMTP_PASSWORD" in step.summary and "not-the-password" not in step.summary
    assert report.exit_code == ExitCode.FAILED
    assert starttls_server.log.connections == 1  # an authentication failure is never retried
    assert s.waits.timeouts == []
    assert s.annotations()[approvals.DECISION] == approvals.CANCELLED


def test_untrusted_certificate_fails_the_step_before_login(setup: Setups, starttls_server: RunningServer) -> None:
    report = setup(
        "jenkins", mail=mail_section(starttls_server.port, ca_file=None), env={"SMTP_PASSWORD": PASSWORD}
    ).run()

    [step] = report.steps
    assert step.status == StepStatus.FAILED
    assert f"certificate verify failed for 127.0.0.1:{starttls_server.port}" in step.summary
    assert "ca_file" in step.summary
    assert report.exit_code == ExitCode.FAILED
    assert starttls_server.log.auth_commands == []


@pytest.mark.timeout(60, func_only=True)  # the retry budget, not the cluster starting
def test_server_that_never_greets_fails_the_step_within_the_retry_budget(setup: Setups) -> None:
    with silent_server() as server:
        report = setup(
            "jenkins", mail=mail_section(server.port, ca_file=None, timeout="0.3s"), env={"SMTP_PASSWORD": PASSWORD}
        ).run()

    [step] = report.steps
    assert step.status == StepStatus.FAILED
    assert f"server at 127.0.0.1:{server.port} did not greet within 0.3s" in step.summary
    assert server.accepted >= 2  # a timeout is retried ...
    assert step.duration_s < 10  # ... within retry_for (1s) plus the last attempt
    assert report.exit_code == ExitCode.FAILED


def test_server_without_starttls_never_sees_the_credentials(setup: Setups, certificates: Certificates) -> None:
    with smtp_server(ServerMode.PLAIN, certificates) as server:
        report = setup(
            "jenkins", mail=mail_section(server.port, certificates.ca_file), env={"SMTP_PASSWORD": PASSWORD}
        ).run()

    [step] = report.steps
    assert step.status == StepStatus.FAILED
    assert "does not offer STARTTLS; refusing to send credentials in clear" in step.summary
    assert server.log.auth_commands == [] and server.log.logins == [] and server.log.messages == []
    assert report.exit_code == ExitCode.FAILED


def test_best_effort_mail_failure_does_not_stop_the_gate(setup: Setups, certificates: Certificates) -> None:
    with smtp_server(ServerMode.PLAIN, certificates) as server:
        s = setup(
            "jenkins",
            mail=mail_section(server.port, certificates.ca_file, best_effort=True),
            env={"SMTP_PASSWORD": PASSWORD},
        )
        report = s.run()

    [step] = report.steps
    assert step.status == StepStatus.AWAITING_APPROVAL
    assert "e-mail NOT sent" in step.summary
    assert any("does not offer STARTTLS" in line for line in s.progress)
    assert server.log.auth_commands == []
