"""What an SMTP failure means: whether to try again, and what to tell the person who reads the error."""

from __future__ import annotations

import os
import ssl

from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPDataError,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from pipeline_steps.errors import NotificationError
from pipeline_steps.notify.mail_settings import DEFAULT_PORTS, SECTION, MailSettings, Security

_SECURITY_HINT = (
    f"check {SECTION}.security and port: implicit TLS (tls) is usually port {DEFAULT_PORTS[Security.TLS]}, "
    f"STARTTLS (starttls) port {DEFAULT_PORTS[Security.STARTTLS]}"
)


def is_transient(exc: BaseException) -> bool:
    """Lost or refused connections and timeouts; never a certificate, a login or a 5xx answer."""
    if tls_failure(exc) is not None:
        return False
    if isinstance(exc, SMTPResponseException):
        # 421: the server is shutting the channel down (overload, restart); a later connection may succeed.
        return exc.code == 421 or (isinstance(exc, SMTPConnectResponseError) and 400 <= exc.code < 500)
    return isinstance(exc, (SMTPConnectError, SMTPServerDisconnected, SMTPTimeoutError, OSError))


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc`: aiosmtplib wraps it on connect (implicit TLS), not on STARTTLS."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe(exc: BaseException, settings: MailSettings, *, attempts: int, elapsed_s: float) -> NotificationError:
    """One NotificationError naming host:port, the cause and the fix."""
    message, hint = _explain(exc, settings)
    if attempts > 1:
        message += f" (gave up after {attempts} attempts in {elapsed_s:.1f}s)"
    error = NotificationError(message, hint=hint)
    error.retryable = is_transient(exc)
    return error


def _explain(exc: BaseException, settings: MailSettings) -> tuple[str, str | None]:
    at = settings.address
    timeout = _seconds(settings.timeout)
    tls = tls_failure(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        reason = tls.verify_message or tls.reason or str(tls)
        if settings.ca_file:
            hint = (
                f"{SECTION}.ca_file ({settings.ca_file}) must hold the CA that signed the server's certificate, "
                f"and the certificate must name {settings.host}"
            )
        else:
            hint = f"give {SECTION}.ca_file: the CA bundle that signed the server's certificate"
        return f"certificate verify failed for {at}: {reason}", hint
    if tls is not None:
        return f"TLS handshake with {at} failed: {tls.reason or tls}", _SECURITY_HINT
    if isinstance(exc, SMTPAuthenticationError):
        return (
            f"authentication failed for user {settings.username} at {at}: {exc.code} {exc.message}",
            f"check {SECTION}.username and the password in {_password_source(settings)}",
        )
    if isinstance(exc, SMTPConnectTimeoutError):
        if isinstance(exc.__cause__, SMTPTimeoutError):
            return f"server at {at} did not greet within {timeout}", _SECURITY_HINT
        return f"connecting to {at} timed out after {timeout}", "check host, port and the firewall between"
    if isinstance(exc, SMTPTimeoutError):
        return f"server at {at} did not answer within {timeout}", f"raise {SECTION}.timeout if the server is slow"
    if isinstance(exc, SMTPConnectResponseError):
        return f"server at {at} refused the session: {exc.code} {exc.message}", None
    if isinstance(exc, SMTPSenderRefused):
        return f"server at {at} refused sender {exc.sender}: {exc.code} {exc.message}", f"check {SECTION}.from"
    if isinstance(exc, SMTPRecipientsRefused):
        refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return f"server at {at} refused every recipient ({refused})", f"check {SECTION}.to and cc"
    if isinstance(exc, SMTPDataError):
        return f"server at {at} rejected the message: {exc.code} {exc.message}", None
    if isinstance(exc, SMTPResponseException):
        return f"server at {at} answered {exc.code} {exc.message}", None
    if isinstance(exc, SMTPConnectError):
        cause = _os_cause(exc)
        if cause is None:
            return f"server at {at} closed the connection before greeting", _SECURITY_HINT
        return f"cannot connect to {at}: {cause}", f"check {SECTION}.host and port, and that the server is reachable"
    if isinstance(exc, SMTPServerDisconnected):
        return f"server at {at} closed the connection: {exc}", None
    if isinstance(exc, OSError):
        return f"cannot talk to {at}: {exc.strerror or exc}", f"check {SECTION}.host and port"
    return f"sending mail via {at} failed: {exc}", None


def _os_cause(exc: BaseException) -> str | None:
    cause = exc.__cause__
    if isinstance(cause, OSError) and not isinstance(cause, SMTPServerDisconnected):
        # asyncio reports "Connect call failed (...)" as strerror; the errno says what failed.
        return (os.strerror(cause.errno) if cause.errno else cause.strerror or str(cause)).lower()
    return None


def _password_source(settings: MailSettings) -> str:
    if settings.password_env:
        return f"the environment variable {settings.password_env} ({SECTION}.password_env)"
    return f"the file {settings.password_file} ({SECTION}.password_file)"


def _seconds(value: float) -> str:
    return f"{value:g}s"
