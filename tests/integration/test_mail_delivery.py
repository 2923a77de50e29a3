"""The approval e-mail against real SMTP servers: STARTTLS, implicit TLS, plain, silent and absent ones."""

from __future__ import annotations

import logging
import re
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import NotificationError
from pipeline_steps.notify import ApprovalRequest, MailSettings, build_message, send_mail
from pipeline_steps.notify.approval_message import RUN_ID_HEADER
from pipeline_steps.report import CheckResult
from tests.support.smtp_server import (
    PASSWORD,
    USERNAME,
    AuthSeen,
    Certificates,
    RunningServer,
    ServerMode,
    silent_server,
    smtp_server,
    unused_port,
)

OLD_IMAGE = "registry.example.com/shop/web@sha256:" + "a" * 64
NEW_IMAGE = "registry.example.com/shop/web@sha256:" + "b" * 64


def settings_for(
    port: int,
    *,
    security: str = "starttls",
    ca_file: Path | None = None,
    username: str | None = USERNAME,
    password: str = PASSWORD,
    timeout: float = 5,
    retry_for: float = 5,
) -> MailSettings:
    data: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": security,
        "from": "Release pipeline <ci@example.com>",
        "to": ["ops@example.com", "oncall@example.com"],
        "cc": "lead@example.com",
        "timeout": timeout,
        "retry_for": retry_for,
    }
    if username is not None:
        data |= {"username": username, "password_env": "SMTP_PASSWORD"}
    if ca_file is not None:
        data["ca_file"] = str(ca_file)
    return MailSettings.from_mapping(data, source="pipeline.yaml", env={"SMTP_PASSWORD": password})


def approval_request() -> ApprovalRequest:
    return ApprovalRequest(
        app="web",
        namespace="shop",
        strategy="blue-green",
        run_id="run-20240501-7",
        target_role="green",
        active_role="blue",
        old_image=OLD_IMAGE,
        new_image=NEW_IMAGE,
        checks=[
            CheckResult("health", "http://web-green.shop/healthz", passed=True, attempts=1, duration_s=0.1),
            CheckResult("smoke", "./smoke.sh", passed=True, attempts=2, duration_s=3.5, detail="200 OK <fast>"),
        ],
        preview_url="https://green.web.example.com/",
        approve_url="https://ci.example.com/job/web/42/input/",
        approve_instructions="Open the link and choose Proceed to release, or Abort to reject.",
    )


def send(settings: MailSettings) -> None:
    send_mail(settings, build_message(settings, approval_request()))


def attempts_in(error: NotificationError) -> int:
    match = re.search(r"gave up after (\d+) attempts", str(error))
    return int(match.group(1)) if match else 1


def test_starttls_with_login_delivers_headers_and_both_parts(
    starttls_server: RunningServer, certificates: Certificates
) -> None:
    send(settings_for(starttls_server.port, ca_file=certificates.ca_file))

    log = starttls_server.log
    assert log.logins == [AuthSeen(login=USERNAME, encrypted=True)]
    assert log.auth_commands and all(log.auth_commands)
    [message] = log.messages
    # The stdlib folds a long Subject right after the colon and keeps that space when parsing it back.
    assert message["Subject"].strip() == "[pipeline-steps] Approve release of web to shop: green (run run-20240501-7)"
    assert message["From"] == "Release pipeline <ci@example.com>"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message[RUN_ID_HEADER] == "run-20240501-7"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert sorted(log.recipients[0]) == ["lead@example.com", "oncall@example.com", "ops@example.com"]
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    for expected in ("web", "shop", "blue", "green", OLD_IMAGE, NEW_IMAGE, "health", "smoke", "./smoke.sh"):
        assert expected in text
        assert expected in markup
    assert "https://ci.example.com/job/web/42/input/" in text
    assert 'href="https://ci.example.com/job/web/42/input/"' in markup
    assert "200 OK <fast>" in text
    assert "200 OK &lt;fast&gt;" in markup


def test_implicit_tls_with_login_delivers(tls_server: RunningServer, certificates: Certificates) -> None:
    send(settings_for(tls_server.port, security="tls", ca_file=certificates.ca_file))

    assert tls_server.log.logins == [AuthSeen(login=USERNAME, encrypted=True)]
    [message] = tls_server.log.messages
    assert message[RUN_ID_HEADER] == "run-20240501-7"


def test_relay_without_login_over_plain_smtp(plain_server: RunningServer) -> None:
    send(settings_for(plain_server.port, security="none", username=None))

    assert len(plain_server.log.messages) == 1
    assert plain_server.log.auth_commands == []


def test_wrong_password_names_authentication_and_is_not_retried(
    starttls_server: RunningServer, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password"
    settings = settings_for(starttls_server.port, ca_file=certificates.ca_file, password=wrong)

    with pytest.raises(NotificationError) as caught:
        send(settings)

    message = str(caught.value)
    assert "authentication failed" in message
    assert USERNAME in message
    assert f"127.0.0.1:{starttls_server.port}" in message
    assert "SMTP_PASSWORD" in message
    assert wrong not in message and wrong not in caplog.text and wrong not in repr(settings)
    assert starttls_server.log.connections == 1
    assert starttls_server.log.logins and all(seen.login == USERNAME for seen in starttls_server.log.logins)
    assert starttls_server.log.messages == []


@pytest.mark.parametrize(("mode", "security"), [(ServerMode.STARTTLS, "starttls"), (ServerMode.IMPLICIT_TLS, "tls")])
def test_untrusted_certificate_is_refused_before_login(
    certificates: Certificates, mode: ServerMode, security: str
) -> None:
    with smtp_server(mode, certificates) as server:
        with pytest.raises(NotificationError) as caught:
            send(settings_for(server.port, security=security, ca_file=None))

        assert "certificate verify failed" in str(caught.value)
        assert "ca_file" in str(caught.value)
        assert server.log.connections == 1
        assert server.log.auth_commands == []
        assert server.log.messages == []


def test_server_without_starttls_never_sees_credentials(plain_server: RunningServer) -> None:
    with pytest.raises(NotificationError) as caught:
        send(settings_for(plain_server.port, security="starttls"))

    assert "does not offer STARTTLS; refusing to send credentials in clear" in str(caught.value)
    assert plain_server.log.auth_commands == []
    assert plain_server.log.logins == []
    assert plain_server.log.messages == []


def test_server_without_starttls_gets_no_mail_either(plain_server: RunningServer) -> None:
    with pytest.raises(NotificationError, match="does not offer STARTTLS"):
        send(settings_for(plain_server.port, security="starttls", username=None))

    assert plain_server.log.messages == []


@pytest.mark.timeout(60)
def test_server_that_never_greets_times_out_and_is_retried_within_budget() -> None:
    with silent_server() as server:
        with pytest.raises(NotificationError) as caught:
            send(settings_for(server.port, timeout=0.3, retry_for=1.0))

        assert f"server at 127.0.0.1:{server.port} did not greet within 0.3s" in str(caught.value)
        assert server.accepted >= 2
        assert attempts_in(caught.value) == server.accepted


@pytest.mark.timeout(60)
def test_refused_connection_is_retried_then_fails(caplog: pytest.LogCaptureFixture) -> None:
    port = unused_port()

    with pytest.raises(NotificationError) as caught:
        send(settings_for(port, retry_for=1.5))

    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value)
    assert attempts_in(caught.value) >= 2
    assert sum("retrying" in record.getMessage() for record in caplog.records) == attempts_in(caught.value) - 1


@pytest.mark.timeout(60)
def test_refused_connection_is_retried_until_the_server_is_up(certificates: Certificates) -> None:
    port = unused_port()
    started: list[RunningServer] = []
    with ExitStack() as stack:

        def start_late() -> None:
            started.append(stack.enter_context(smtp_server(ServerMode.STARTTLS, certificates, port=port)))

        late = threading.Timer(1.0, start_late)
        late.start()
        try:
            send(settings_for(port, ca_file=certificates.ca_file, retry_for=30))
        finally:
            late.join()

        [server] = started
        assert len(server.log.messages) == 1


def test_tls_against_a_starttls_port_names_the_security_setting(
    starttls_server: RunningServer, certificates: Certificates
) -> None:
    with pytest.raises(NotificationError) as caught:
        send(settings_for(starttls_server.port, security="tls", ca_file=certificates.ca_file))

    assert f"TLS handshake with 127.0.0.1:{starttls_server.port} failed" in str(caught.value)
    assert caught.value.hint is not None and "security" in caught.value.hint
    assert starttls_server.log.connections == 1


@pytest.mark.timeout(60)
def test_starttls_against_an_implicit_tls_port_names_the_security_setting(
    tls_server: RunningServer, certificates: Certificates
) -> None:
    with pytest.raises(NotificationError) as caught:
        send(settings_for(tls_server.port, security="starttls", ca_file=certificates.ca_file, timeout=0.3, retry_for=0))

    assert f"server at 127.0.0.1:{tls_server.port} did not greet within 0.3s" in str(caught.value)
    assert caught.value.hint is not None and "security" in caught.value.hint
    assert tls_server.log.connections == 1
