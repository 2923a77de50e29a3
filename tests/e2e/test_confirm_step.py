"""The confirm step in each mode, through the runner, on the cluster: what it decides, the exit code, what it
e-mails, the approval record it leaves, and that nothing after it runs when the release is rejected or times
out (switch never touches the endpoint). The runner takes the release lock (a Lease) on the cluster as usual.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from pipeline_steps import approvals
from pipeline_steps.errors import ConfigError, NotificationError
from pipeline_steps.notify.mail_settings import MailSettings
from pipeline_steps.outcome import ExitCode
from pipeline_steps.report import StepStatus
from pipeline_steps.steps import confirm
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.confirm_context import MAIL, NEW_IMAGE, OLD_IMAGE, PREVIEW, RUN_ID, Setups


@pytest.fixture
def setup(cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Setups:
    return Setups(cluster, namespace, monkeypatch)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[EmailMessage]:
    """The messages confirm sends, instead of sending them (tests/e2e/test_confirm_mail.py sends them)."""
    messages: list[EmailMessage] = []
    monkeypatch.setattr(confirm, "send_mail", lambda settings, message: messages.append(message))
    return messages


def failing_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(settings: MailSettings, message: EmailMessage) -> None:
        raise NotificationError("authentication failed for user bot at smtp.example.com:587", hint="check it")

    monkeypatch.setattr(confirm, "send_mail", fail)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


# -- wait mode --------------------------------------------------------------------------------------------


def test_wait_approved_lets_the_release_go_on(setup: Setups) -> None:
    s = setup(timeout="45s")
    s.decide("approved", "alice")

    report = s.run()

    [step] = report.steps
    assert step.status == StepStatus.SUCCEEDED, step
    assert step.summary.startswith("approved by alice")
    assert report.exit_code == ExitCode.OK
    assert report.facts["approval"].startswith("approved by alice at ")
    assert s.waits.timeouts == [45.0]
    command = f"pipeline-steps approve -c deploy/pipeline.yaml --namespace {s.namespace} --run-id {RUN_ID}"
    assert any(command in line for line in s.progress), s.progress


def test_wait_rejected_stops_before_switch_with_exit_rejected(setup: Setups) -> None:
    s = setup()
    s.decide("rejected", "bob", comment="error rate too high")

    report = s.run("confirm", "switch", "verify-prod", "post-clean")

    assert [step.name for step in report.steps] == ["confirm"]
    [step] = report.steps
    assert step.status == StepStatus.REJECTED
    assert "rejected by bob: error rate too high; public traffic untouched" in step.summary
    assert report.exit_code == ExitCode.REJECTED
    assert report.exit_code == 5  # documented: REJECTED


def test_wait_timeout_rejects_by_default_and_closes_the_request(setup: Setups) -> None:
    s = setup(timeout="2s")

    report = s.run("confirm", "switch")

    assert [step.name for step in report.steps] == ["confirm"]
    assert report.steps[0].status == StepStatus.REJECTED
    assert "no decision in 2s: rejected" in report.steps[0].summary
    assert report.exit_code == ExitCode.REJECTED
    annotations = s.annotations()
    assert annotations[approvals.DECISION] == "rejected"
    assert annotations[approvals.DECIDED_BY] == approvals.TIMEOUT_DECIDER
    # A decision arriving after the run gave up is refused, rather than reported as if it counted.
    with pytest.raises(ConfigError, match=f"run {RUN_ID} was already rejected"):
        s.record_decision("approved", "alice")


def test_wait_timeout_can_approve_when_configured(setup: Setups) -> None:
    s = setup(timeout="2s", on_timeout="approve")

    report = s.run()

    assert report.steps[0].status == StepStatus.SUCCEEDED
    assert "approved by confirm.on_timeout" in report.steps[0].summary
    assert report.exit_code == ExitCode.OK
    assert s.annotations()[approvals.DECISION] == "approved"


def test_decision_arriving_as_the_wait_runs_out_is_honoured(setup: Setups) -> None:
    s = setup(timeout="2s")
    s.waits.at_timeout.append(lambda: s.record_decision("approved", "alice"))

    report = s.run()

    assert report.steps[0].status == StepStatus.SUCCEEDED, report.steps[0]
    assert report.steps[0].summary.startswith("approved by alice")
    assert s.annotations()[approvals.DECIDED_BY] == "alice"


def test_approval_by_someone_not_listed_is_not_honoured(setup: Setups) -> None:
    """`approve` refuses such approvers; the waiting run checks again, against a record written otherwise."""
    s = setup(approvers=["alice", "bob"])
    s.decide("approved", "mallory")

    report = s.run("confirm", "switch")

    assert [step.name for step in report.steps] == ["confirm"]
    assert report.steps[0].status == StepStatus.REJECTED
    assert "approved by mallory, who is not in confirm.approvers (alice, bob): not honoured" in report.steps[0].summary
    assert report.exit_code == ExitCode.REJECTED


def test_listed_approver_is_honoured(setup: Setups) -> None:
    s = setup(approvers=["alice", "bob"])
    s.decide("approved", "bob")

    assert s.run().exit_code == ExitCode.OK


def test_another_run_taking_over_the_record_rejects_this_one(setup: Setups) -> None:
    s = setup()
    s.waits.meanwhile.append(lambda: approvals.open_request(s.other, "web", "build-43"))

    report = s.run("confirm", "switch")

    assert [step.name for step in report.steps] == ["confirm"]
    assert report.steps[0].status == StepStatus.REJECTED
    assert "run build-43 took over the record" in report.steps[0].summary
    assert report.exit_code == ExitCode.REJECTED
    assert approvals.decision_of(s.record()) == approvals.Decision("build-43", approvals.AWAITING)


def test_wait_mail_names_the_staged_role_and_the_cli_command(setup: Setups, sent: list[EmailMessage]) -> None:
    # Even inside Jenkins, `wait` is decided with the command line: there is no input step to open.
    s = setup(mail=MAIL, env={"BUILD_URL": "https://jenkins.example.com/job/web/42/"})
    s.decide("approved")

    report = s.run()

    assert report.exit_code == ExitCode.OK
    assert "e-mailed ops@example.com" in report.steps[0].summary
    [message] = sent
    text = text_of(message)
    assert "green" in str(message["Subject"])
    for expected in ("Public after approval: green", "Public now:", OLD_IMAGE, NEW_IMAGE, PREVIEW, "staged answers"):
        assert expected in text
    assert f"pipeline-steps approve -c deploy/pipeline.yaml --namespace {s.namespace} --run-id {RUN_ID}" in text
    assert "jenkins.example.com" not in text
    # The facts of a stage-by-stage run keep no attempt count: none is made up.
    assert "0 attempts" not in text


def test_failed_mail_fails_the_step_and_closes_the_request(setup: Setups, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_mail(monkeypatch)
    s = setup(mail=MAIL)
    s.decide("approved")  # would approve, if the step waited: it must not

    report = s.run("confirm", "switch")

    assert [step.name for step in report.steps] == ["confirm"]
    assert report.steps[0].status == StepStatus.FAILED
    assert "approval e-mail not sent: authentication failed for user bot" in report.steps[0].summary
    assert report.exit_code == ExitCode.FAILED
    assert s.waits.timeouts == []
    assert s.annotations()[approvals.DECISION] == approvals.CANCELLED


def test_failed_mail_is_a_warning_when_best_effort(setup: Setups, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_mail(monkeypatch)
    s = setup(mail={**MAIL, "best_effort": True})
    s.decide("approved")

    report = s.run()

    assert report.steps[0].status == StepStatus.SUCCEEDED
    assert "e-mail NOT sent" in report.steps[0].summary
    assert any("warning: approval e-mail not sent (best effort)" in line for line in s.progress)


def test_unset_password_variable_is_a_usage_error_and_closes_the_request(setup: Setups) -> None:
    s = setup(mail={**MAIL, "username": "bot", "password_env": "SMTP_PASSWORD"})

    with pytest.raises(ConfigError, match="SMTP_PASSWORD is unset or empty"):
        s.run()

    assert s.annotations()[approvals.DECISION] == approvals.CANCELLED


# -- prompt mode ------------------------------------------------------------------------------------------


def test_prompt_without_a_terminal_is_a_usage_error(setup: Setups) -> None:
    with pytest.raises(ConfigError, match="no terminal to ask on"):
        setup("prompt").run()


@pytest.mark.parametrize(("answer", "status", "code"), [(True, StepStatus.SUCCEEDED, ExitCode.OK),
                                                          (False, StepStatus.REJECTED, ExitCode.REJECTED)])  # fmt: skip
def test_prompt_answer_decides(setup: Setups, answer: bool, status: StepStatus, code: ExitCode) -> None:
    questions: list[str] = []

    def ask(question: str) -> bool:
        questions.append(question)
        return answer

    s = setup("prompt", prompt=ask)
    # Approved, switch would run next (not here: the namespace has no app to switch); rejected, it must not.
    report = s.run(*(["confirm"] if answer else ["confirm", "switch"]))

    assert questions == [f"Make role green of web public in {s.namespace}?"]
    assert [step.name for step in report.steps] == ["confirm"]
    assert report.steps[0].status == status
    assert report.exit_code == code


@pytest.mark.parametrize(("on_timeout", "code"), [("reject", ExitCode.REJECTED), ("approve", ExitCode.OK)])
def test_prompt_nobody_answering_follows_on_timeout(setup: Setups, on_timeout: str, code: ExitCode) -> None:
    def nobody(question: str) -> bool:
        raise TimeoutError("no answer within 5s")

    report = setup("prompt", prompt=nobody, timeout="5s", on_timeout=on_timeout).run()

    assert "no decision in 5s" in report.steps[0].summary
    assert report.exit_code == code


def test_prompt_mail_says_to_answer_on_the_terminal(setup: Setups, sent: list[EmailMessage]) -> None:
    setup("prompt", prompt=lambda _q: True, mail=MAIL).run()

    [message] = sent
    assert "Answer the question on the terminal where the release runs" in text_of(message)


# -- CI gates ---------------------------------------------------------------------------------------------


def test_jenkins_mode_hands_over_with_the_input_page(setup: Setups, sent: list[EmailMessage]) -> None:
    s = setup("jenkins", mail=MAIL, env={"BUILD_URL": "https://jenkins.example.com/job/web/42/"})

    alone = s.run()

    assert alone.steps[0].status == StepStatus.AWAITING_APPROVAL
    assert alone.exit_code == ExitCode.OK  # a stage of its own: the Jenkins input step comes next
    assert "https://jenkins.example.com/job/web/42/input/" in text_of(sent[0])
    assert s.record() is None  # no approval record: Jenkins decides
    chained = s.run("confirm", "switch")
    assert [step.name for step in chained.steps] == ["confirm"]
    assert chained.exit_code == ExitCode.AWAITING_APPROVAL
    assert chained.exit_code == 4  # documented: AWAITING_APPROVAL


def test_github_mode_links_the_run(setup: Setups, sent: list[EmailMessage]) -> None:
    env = {"GITHUB_REPOSITORY": "shop/web", "GITHUB_RUN_ID": "991"}

    setup("github", mail=MAIL, env=env).run()

    assert "https://github.com/shop/web/actions/runs/991" in text_of(sent[0])


def test_ci_gate_fails_when_its_mail_cannot_be_sent(setup: Setups, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_mail(monkeypatch)

    report = setup("jenkins", mail=MAIL).run()

    assert report.steps[0].status == StepStatus.FAILED
    assert report.exit_code == ExitCode.FAILED


def test_auto_and_yes_need_no_decision(setup: Setups) -> None:
    assert confirm.plan(setup("auto").ctx).noop
    s = setup("wait")
    s.ctx.assume_yes = True
    report = s.run()
    assert report.steps[0].status == StepStatus.UNCHANGED
    assert s.record() is None
