"""The e-mail that asks a person to approve or reject a staged release."""

from __future__ import annotations

import dataclasses
import html
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from pipeline_steps.notify.mail_settings import MailSettings
from pipeline_steps.report import CheckResult

RUN_ID_HEADER = "X-Pipeline-Steps-Run-Id"


@dataclasses.dataclass
class ApprovalRequest:
    app: str
    namespace: str
    strategy: str
    run_id: str
    target_role: str  #: the role that goes public on approval
    active_role: str  #: the role public now
    old_image: str  #: digest reference of what is public now
    new_image: str  #: digest reference of what goes public
    checks: list[CheckResult] = dataclasses.field(default_factory=list)  #: verification of the staged release
    preview_url: str = ""
    approve_instructions: str = ""
    approve_url: str = ""


def approval_link(
    env: Mapping[str, str],
    *,
    config_path: str,
    run_id: str,
    mode: str | None = None,
    namespace: str | None = None,
) -> tuple[str, str]:
    """Where the decision is made: (URL or "", instructions).

    `mode` is confirm.mode. In `wait` mode the decision is `pipeline-steps approve|reject`, even when the run
    happens in Jenkins or GitHub Actions (there is no input step or environment gate to open then); in
    `prompt` mode it is the run's terminal. Otherwise (jenkins, github, or no mode given) the CI the run
    happens in decides: Jenkins' input page from BUILD_URL, the GitHub run page, else the command line."""
    if mode == "prompt":
        return "", "Answer the question on the terminal where the release runs: y releases, anything else rejects."
    if mode != "wait":
        build_url = env.get("BUILD_URL", "").strip()
        if build_url:
            url = build_url.rstrip("/") + "/input/"
            return url, f"Open {url} and choose Proceed to release, or Abort to reject."
        repository = env.get("GITHUB_REPOSITORY", "").strip()
        github_run = env.get("GITHUB_RUN_ID", "").strip()
        if repository and github_run:
            server = (env.get("GITHUB_SERVER_URL", "").strip() or "https://github.com").rstrip("/")
            url = f"{server}/{repository}/actions/runs/{github_run}"
            return url, (
                f"Open {url}, choose Review deployments, then Approve and deploy to release, or Reject to reject."
            )
    where = f"-c {shlex.quote(config_path)}"
    if namespace:
        where += f" --namespace {shlex.quote(namespace)}"
    run = shlex.quote(run_id)
    return "", (
        f"To release, run:  pipeline-steps approve {where} --run-id {run}\n"
        f"To reject, run:   pipeline-steps reject {where} --run-id {run}"
    )


def build_message(settings: MailSettings, request: ApprovalRequest) -> EmailMessage:
    message = EmailMessage()
    role = f": {request.target_role}" if request.target_role else ""
    message["Subject"] = _one_line(
        f"[pipeline-steps] Approve release of {request.app} to {request.namespace}{role} (run {request.run_id})"
    )
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    if settings.cc:
        message["Cc"] = ", ".join(settings.cc)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message[RUN_ID_HEADER] = _one_line(request.run_id)
    message.set_content(_plain_text(request))
    message.add_alternative(_html(request), subtype="html")
    return message


def _one_line(text: str) -> str:
    # Header values from config or cluster names must not inject further headers.
    return " ".join(text.split())


def _facts(request: ApprovalRequest) -> list[tuple[str, str]]:
    facts = [
        ("App", request.app),
        ("Namespace", request.namespace),
        ("Strategy", request.strategy),
        ("Run", request.run_id),
        ("Public now", request.active_role),
        ("Public after approval", request.target_role),
        ("Image now", request.old_image),
        ("Image after approval", request.new_image),
        ("Preview", request.preview_url),
    ]
    return [(label, value) for label, value in facts if value]


def _check_line(check: CheckResult) -> str:
    verdict = "PASS" if check.passed else "FAIL"
    line = f"  {verdict}  {check.name}  {check.target}"
    if check.attempts:  # 0: not recorded (the state file of a stage-by-stage run keeps only the verdicts)
        tries = "1 attempt" if check.attempts == 1 else f"{check.attempts} attempts"
        line += f"  ({tries}, {check.duration_s:.1f}s)"
    return f"{line}\n        {check.detail}" if check.detail else line


def _checks_summary(checks: list[CheckResult]) -> str:
    passed = sum(1 for check in checks if check.passed)
    return f"{passed} passed, {len(checks) - passed} failed"


def _plain_text(request: ApprovalRequest) -> str:
    width = max(len(label) for label, _ in _facts(request)) + 2
    lines = [
        f"The release of {request.app} to {request.namespace} is staged and waits for your decision.",
        "",
        *(f"{label + ':':<{width}}{value}" for label, value in _facts(request)),
        "",
    ]
    if request.checks:
        lines.append(f"Checks of the staged release ({_checks_summary(request.checks)}):")
        lines.extend(_check_line(check) for check in request.checks)
    else:
        lines.append("No checks ran against the staged release.")
    lines += ["", "Approve or reject:"]
    if request.approve_url:
        lines.append(f"  {request.approve_url}")
    lines.extend(f"  {line}" for line in request.approve_instructions.splitlines())
    return "\n".join(lines) + "\n"


def _link(url: str) -> str:
    text = html.escape(url)
    # Only web links become anchors; anything else is shown as text, never as a javascript: or data: link.
    if url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url, quote=True)}">{text}</a>'
    return text


def _html(request: ApprovalRequest) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><th align='left'>{e(label)}</th><td>{_link(value) if label == 'Preview' else f'<code>{e(value)}</code>'}"
        "</td></tr>"
        for label, value in _facts(request)
    )
    if request.checks:
        check_rows = "".join(
            f"<tr><td>{'PASS' if check.passed else '<b>FAIL</b>'}</td><td>{e(check.name)}</td>"
            f"<td><code>{e(check.target)}</code></td><td>{check.attempts or ''}</td>"
            f"<td>{f'{check.duration_s:.1f}s' if check.attempts else ''}</td>"
            f"<td>{e(check.detail)}</td></tr>"
            for check in request.checks
        )
        checks = (
            f"<h3>Checks of the staged release ({_checks_summary(request.checks)})</h3>"
            "<table border='1' cellpadding='4' cellspacing='0'>"
            "<tr><th>Result</th><th>Check</th><th>Target</th><th>Attempts</th><th>Time</th><th>Detail</th></tr>"
            f"{check_rows}</table>"
        )
    else:
        checks = "<p>No checks ran against the staged release.</p>"
    link = f"<p>{_link(request.approve_url)}</p>" if request.approve_url else ""
    instructions = f"<pre>{e(request.approve_instructions)}</pre>" if request.approve_instructions.strip() else ""
    return (
        "<!DOCTYPE html><html><body>"
        f"<p>The release of <b>{e(request.app)}</b> to <b>{e(request.namespace)}</b> is staged and waits for your "
        "decision.</p>"
        f"<table cellpadding='4' cellspacing='0'>{rows}</table>"
        f"{checks}<h3>Approve or reject</h3>{link}{instructions}"
        "</body></html>\n"
    )
