"""Where the approval e-mail sends the approver, per confirm mode; and checks shown without made-up figures."""

from __future__ import annotations

import pytest

from pipeline_steps.notify import ApprovalRequest, MailSettings, approval_link, build_message
from pipeline_steps.report import CheckResult

JENKINS = {"BUILD_URL": "https://jenkins.example.com/job/web/42/"}
GITHUB = {"GITHUB_REPOSITORY": "shop/web", "GITHUB_RUN_ID": "991"}


@pytest.mark.parametrize("env", [{}, JENKINS, GITHUB, {**JENKINS, **GITHUB}])
def test_wait_mode_is_always_decided_on_the_command_line(env: dict[str, str]) -> None:
    url, instructions = approval_link(env, config_path="deploy/pipeline.yaml", run_id="r-1", mode="wait")

    assert url == ""
    assert "pipeline-steps approve -c deploy/pipeline.yaml --run-id r-1" in instructions
    assert "pipeline-steps reject -c deploy/pipeline.yaml --run-id r-1" in instructions


def test_namespace_is_named_in_the_commands_when_given() -> None:
    _, instructions = approval_link({}, config_path="p.yaml", run_id="r 1", mode="wait", namespace="shop-prod")

    assert "pipeline-steps approve -c p.yaml --namespace shop-prod --run-id 'r 1'" in instructions


@pytest.mark.parametrize(
    ("mode", "env", "url"),
    [
        ("jenkins", JENKINS, "https://jenkins.example.com/job/web/42/input/"),
        ("github", GITHUB, "https://github.com/shop/web/actions/runs/991"),
        (None, JENKINS, "https://jenkins.example.com/job/web/42/input/"),
    ],
)
def test_ci_gates_link_their_page(mode: str | None, env: dict[str, str], url: str) -> None:
    assert approval_link(env, config_path="p.yaml", run_id="r", mode=mode)[0] == url


def test_ci_gate_outside_its_ci_falls_back_to_the_commands() -> None:
    url, instructions = approval_link({}, config_path="p.yaml", run_id="r", mode="jenkins")

    assert url == "" and "pipeline-steps approve" in instructions


def test_prompt_mode_points_at_the_terminal() -> None:
    url, instructions = approval_link(JENKINS, config_path="p.yaml", run_id="r", mode="prompt")

    assert url == ""
    assert "terminal" in instructions and "pipeline-steps approve" not in instructions


def test_checks_without_recorded_attempts_show_only_the_verdict() -> None:
    settings = MailSettings.from_mapping(
        {"host": "smtp.example.com", "from": "ci@example.com", "to": "ops@example.com"}, source="p.yaml", env={}
    )
    request = ApprovalRequest(
        app="web", namespace="shop", strategy="bluegreen", run_id="r", target_role="green", active_role="blue",
        old_image="old", new_image="new",
        checks=[CheckResult("staged answers", "http://10.0.0.7/", passed=True, attempts=0, duration_s=0.0),
                CheckResult("smoke", "./smoke.sh", passed=True, attempts=2, duration_s=1.5)],
    )  # fmt: skip

    message = build_message(settings, request)
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = str(plain.get_content())

    assert "  PASS  staged answers  http://10.0.0.7/\n" in text
    assert "0 attempts" not in text and "0.0s" not in text
    assert "  PASS  smoke  ./smoke.sh  (2 attempts, 1.5s)" in text
