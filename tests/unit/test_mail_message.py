"""The approval e-mail: where to decide, headers, both parts, and escaping of everything shown."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from pipeline_steps.notify import RUN_ID_HEADER, ApprovalRequest, MailSettings, approval_link, build_message
from pipeline_steps.report import CheckResult

SETTINGS = MailSettings.from_mapping(
    {
        "host": "smtp.example.com",
        "from": "Release pipeline <ci@example.com>",
        "to": ["ops@example.com", "oncall@example.com"],
        "cc": "lead@example.com",
    },
    source="pipeline.yaml",
    env={},
)


def request(**changes: object) -> ApprovalRequest:
    base = ApprovalRequest(
        app="web",
        namespace="shop",
        strategy="blue-green",
        run_id="r-42",
        target_role="green",
        active_role="blue",
        old_image="registry.example.com/web@sha256:" + "a" * 64,
        new_image="registry.example.com/web@sha256:" + "b" * 64,
        checks=[
            CheckResult("health", "http://web-green/healthz", passed=True, attempts=1, duration_s=0.25),
            CheckResult("smoke", "./smoke.sh", passed=False, attempts=3, duration_s=9.0, detail="exit 1"),
        ],
        preview_url="https://green.example.com/",
        approve_url="https://ci.example.com/job/web/7/input/",
        approve_instructions="Open the link and choose Proceed or Abort.",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def parts(message: EmailMessage) -> tuple[str, str]:
    # Through bytes and back, as a mail client reads it.
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def test_jenkins_input_page() -> None:
    url, instructions = approval_link(
        {"BUILD_URL": "https://jenkins.example.com/job/web/42/", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "1"},
        config_path="pipeline.yaml",
        run_id="r-1",
    )

    assert url == "https://jenkins.example.com/job/web/42/input/"
    assert url in instructions and "Proceed" in instructions and "Abort" in instructions


def test_jenkins_build_url_without_trailing_slash() -> None:
    url, _ = approval_link({"BUILD_URL": "https://jenkins.example.com/job/web/42"}, config_path="p.yaml", run_id="r")

    assert url == "https://jenkins.example.com/job/web/42/input/"


def test_github_run_page() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.example.com", "GITHUB_REPOSITORY": "shop/web", "GITHUB_RUN_ID": "991"}

    url, instructions = approval_link(env, config_path="pipeline.yaml", run_id="r-1")

    assert url == "https://github.example.com/shop/web/actions/runs/991"
    assert "Review deployments" in instructions


def test_github_server_defaults_to_github_com() -> None:
    url, _ = approval_link({"GITHUB_REPOSITORY": "shop/web", "GITHUB_RUN_ID": "5"}, config_path="p.yaml", run_id="r")

    assert url == "https://github.com/shop/web/actions/runs/5"


def test_cli_commands_elsewhere() -> None:
    url, instructions = approval_link({}, config_path="deploy/my pipeline.yaml", run_id="r-1")

    assert url == ""
    assert "pipeline-steps approve -c 'deploy/my pipeline.yaml' --run-id r-1" in instructions
    assert "pipeline-steps reject -c 'deploy/my pipeline.yaml' --run-id r-1" in instructions


def test_headers() -> None:
    message = build_message(SETTINGS, request())

    assert message["Subject"] == "[pipeline-steps] Approve release of web to shop: green (run r-42)"
    assert message["From"] == "Release pipeline <ci@example.com>"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message[RUN_ID_HEADER] == "r-42"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"


def test_no_cc_header_without_cc() -> None:
    settings = MailSettings.from_mapping(
        {"host": "h", "from": "ci@example.com", "to": "ops@example.com"}, source="p.yaml", env={}
    )

    assert "Cc" not in build_message(settings, request())


def test_both_parts_show_the_release() -> None:
    text, html = parts(build_message(SETTINGS, request()))

    for part in (text, html):
        for expected in ("web", "shop", "blue-green", "r-42", "blue", "green", "a" * 64, "b" * 64, "./smoke.sh"):
            assert expected in part
        assert "1 passed, 1 failed" in part
        assert "https://green.example.com/" in part
        assert "https://ci.example.com/job/web/7/input/" in part
        assert "Proceed or Abort" in part
    assert "FAIL  smoke" in text
    assert "exit 1" in text


def test_without_checks_says_so() -> None:
    text, html = parts(build_message(SETTINGS, request(checks=[])))

    assert "No checks ran" in text
    assert "No checks ran" in html


def test_html_escapes_everything_shown() -> None:
    hostile = request(
        app="<script>alert(1)</script>",
        checks=[CheckResult("x", "http://a/?q=<b>", passed=False, attempts=1, duration_s=0, detail="<img src=x>")],
        approve_instructions="run a && b <now>",
    )

    text, html = parts(build_message(SETTINGS, hostile))

    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img src=x&gt;" in html
    assert "q=&lt;b&gt;" in html
    assert "a &amp;&amp; b &lt;now&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text needs no escaping


def test_only_web_links_become_anchors() -> None:
    _, html = parts(build_message(SETTINGS, request(approve_url='javascript:alert("x")')))

    assert 'href="javascript' not in html
    assert "javascript:alert(&quot;x&quot;)" in html


@pytest.mark.parametrize("field", ["run_id", "app"])
def test_line_breaks_cannot_add_headers(field: str) -> None:
    message = build_message(SETTINGS, request(**{field: "r-1\r\nBcc: attacker@example.com"}))

    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert "Bcc" not in message and "Bcc" not in parsed
    assert "\n" not in str(message["Subject"])
