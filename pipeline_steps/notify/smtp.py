"""Sending a message over SMTP: TLS as configured, credentials only over TLS, retries only when they may help."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from pipeline_steps.errors import ConfigError, NotificationError
from pipeline_steps.notify.mail_settings import SECTION, MailSettings, Security
from pipeline_steps.notify.smtp_failures import describe, is_transient

log = logging.getLogger(__name__)

#: Seconds before the first retry; doubled for each further one, up to _BACKOFF_MAX.
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 10.0

PasswordReader = Callable[[MailSettings], str | None]


def read_password(settings: MailSettings) -> str | None:
    """The SMTP password: from `password_env` (read with the settings) or `password_file` (read now)."""
    if settings.username is None:
        return None
    if settings.password_file:
        try:
            password = Path(settings.password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot read {settings.password_file}: {exc.strerror or exc}",
                source=settings.source,
                field=f"{SECTION}.password_file",
                hint="the path is relative to the working directory; mount or write the secret there",
            ) from exc
        if not password:
            raise ConfigError(
                f"{settings.password_file} is empty", source=settings.source, field=f"{SECTION}.password_file"
            )
        return password
    if settings.password is None:
        raise ConfigError(
            f"the environment variable {settings.password_env} is unset or empty",
            source=settings.source,
            field=f"{SECTION}.password_env",
            hint=f"export {settings.password_env} (in CI: map the secret holding the SMTP password to it)",
        )
    return settings.password


def tls_context(settings: MailSettings) -> ssl.SSLContext:
    """Verifies the certificate and the host name; `ca_file` replaces the system's CAs."""
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load CA bundle {settings.ca_file}: {exc}",
            source=settings.source,
            field=f"{SECTION}.ca_file",
            hint="give a PEM file with the CA certificate(s) that signed the server's certificate",
        ) from exc


def send_mail(
    settings: MailSettings, message: EmailMessage, *, password_reader: PasswordReader = read_password
) -> None:
    """Deliver `message` to its To/Cc recipients; raises NotificationError (or ConfigError) when it cannot.

    Runs its own event loop, so it must not be called from a coroutine; await `send_mail_async` there.
    Errors are raised even with `best_effort`: whether to carry on is the caller's decision.
    """
    asyncio.run(send_mail_async(settings, message, password_reader=password_reader))


async def send_mail_async(
    settings: MailSettings, message: EmailMessage, *, password_reader: PasswordReader = read_password
) -> None:
    password = password_reader(settings)
    context = tls_context(settings) if settings.security is not Security.NONE else None
    started = time.monotonic()
    attempts = 0
    try:
        async for attempt in _retrying(settings):
            with attempt:
                attempts += 1
                await _deliver_once(settings, message, password, context)
    except NotificationError:
        raise
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise describe(exc, settings, attempts=attempts, elapsed_s=time.monotonic() - started) from exc


def _retrying(settings: MailSettings) -> AsyncRetrying:
    budget = settings.retry_for

    def spent(state: RetryCallState) -> float:
        return float(state.seconds_since_start or 0.0)

    def stop(state: RetryCallState) -> bool:
        return spent(state) >= budget

    def wait(state: RetryCallState) -> float:
        # The last sleep is cut short so that no attempt starts after the budget.
        backoff = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2.0 ** (state.attempt_number - 1))
        return max(0.0, min(backoff, budget - spent(state)))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = float(state.next_action.sleep) if state.next_action else 0.0
        log.warning(
            "mail via %s not delivered on attempt %d (%s: %s); retrying in %.1fs",
            settings.address,
            state.attempt_number,
            type(exc).__name__,
            exc,
            sleep,
        )

    return AsyncRetrying(
        retry=retry_if_exception(is_transient), stop=stop, wait=wait, before_sleep=before_sleep, reraise=True
    )


async def _deliver_once(
    settings: MailSettings, message: EmailMessage, password: str | None, context: ssl.SSLContext | None
) -> None:
    # start_tls=False: aiosmtplib's default upgrades only when the server offers STARTTLS and otherwise
    # carries on (and logs in) in clear. The upgrade and the checks before AUTH are done here instead.
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.security is Security.TLS,
        start_tls=False,
        tls_context=context,
        timeout=settings.timeout,
    )
    await client.connect()
    try:
        if settings.security is Security.STARTTLS:
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise _no_starttls(settings)
            await client.starttls()
        if settings.username is not None:
            await client.ehlo()
            if client.get_transport_info("sslcontext") is None:
                raise NotificationError(f"connection to {settings.address} is not encrypted; refusing to log in")
            if not client.supports_extension("auth"):
                raise NotificationError(
                    f"server at {settings.address} does not offer AUTH",
                    hint=f"remove {SECTION}.username if the server relays without login, or check the port",
                )
            await client.login(settings.username, password or "")
        refused, _ = await client.send_message(message)
        if refused:
            log.warning("server at %s refused some recipients: %s", settings.address, ", ".join(sorted(refused)))
        # The message is accepted: a failing QUIT must neither fail the delivery nor cause a second copy.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit()
    finally:
        client.close()


def _no_starttls(settings: MailSettings) -> NotificationError:
    what = "credentials" if settings.username is not None else "mail"
    return NotificationError(
        f"server at {settings.address} does not offer STARTTLS; refusing to send {what} in clear",
        hint=(
            f"if the port speaks TLS from the start, set {SECTION}.security: tls (usually port 465); "
            f"for a relay without login inside a trusted network, security: none without username"
        ),
    )
