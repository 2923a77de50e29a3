"""Which SMTP failures are worth another attempt, and what their messages say."""

from __future__ import annotations

import ssl

import aiosmtplib
import pytest

from pipeline_steps.notify import MailSettings
from pipeline_steps.notify.smtp_failures import describe, is_transient


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def certificate_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"
    return error


SETTINGS = MailSettings.from_mapping(
    {"host": "smtp.example.com", "from": "ci@example.com", "to": "ops@example.com", "timeout": 5},
    source="pipeline.yaml",
    env={},
)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        aiosmtplib.SMTPConnectError("Error connecting"),
        aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"),
        aiosmtplib.SMTPServerDisconnected("Connection lost"),
        aiosmtplib.SMTPReadTimeoutError("Timed out waiting for response"),
        aiosmtplib.SMTPResponseException(421, "Service not available"),
        aiosmtplib.SMTPConnectResponseError(450, "Try again later"),
    ],
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        aiosmtplib.SMTPAuthenticationError(535, "Authentication credentials invalid"),
        aiosmtplib.SMTPAuthenticationError(454, "Temporary authentication failure"),
        aiosmtplib.SMTPResponseException(554, "Transaction failed"),
        aiosmtplib.SMTPConnectResponseError(554, "No SMTP service here"),
        aiosmtplib.SMTPDataError(552, "Message too big"),
        aiosmtplib.SMTPSenderRefused(550, "Not allowed", "ci@example.com"),
        certificate_error(),
        chained(aiosmtplib.SMTPConnectError("Error connecting"), certificate_error()),
        aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."),
    ],
)
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_greeting_timeout_is_told_apart_from_connect_timeout() -> None:
    greeting = chained(aiosmtplib.SMTPConnectTimeoutError("ready"), aiosmtplib.SMTPReadTimeoutError("read"))
    connect = chained(aiosmtplib.SMTPConnectTimeoutError("connect"), TimeoutError())

    assert "smtp.example.com:587 did not greet within 5s" in str(describe(greeting, SETTINGS, attempts=1, elapsed_s=5))
    assert "connecting to smtp.example.com:587 timed out after 5s" in str(
        describe(connect, SETTINGS, attempts=1, elapsed_s=5)
    )


def test_certificate_failure_asks_for_ca_file() -> None:
    error = describe(chained(aiosmtplib.SMTPConnectError("x"), certificate_error()), SETTINGS, attempts=1, elapsed_s=0)

    assert str(error).startswith("certificate verify failed for smtp.example.com:587")
    assert error.hint is not None and "ca_file" in error.hint
    assert not error.retryable


def test_attempts_are_counted_only_when_retried() -> None:
    refused = chained(aiosmtplib.SMTPConnectError("x"), ConnectionRefusedError(111, "Connect call failed"))

    once = describe(refused, SETTINGS, attempts=1, elapsed_s=0.0)
    thrice = describe(refused, SETTINGS, attempts=3, elapsed_s=2.0)

    assert "cannot connect to smtp.example.com:587: connection refused" in str(once)
    assert "attempts" not in str(once)
    assert "gave up after 3 attempts in 2.0s" in str(thrice)
    assert thrice.retryable
