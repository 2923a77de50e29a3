"""The `confirm.mail` section of pipeline.yaml: where and how the approval e-mail is sent."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from email.utils import getaddresses, parseaddr
from typing import Any

from pipeline_steps.config_reader import Section

SECTION = "confirm.mail"


class Security(enum.StrEnum):
    STARTTLS = "starttls"  #: plain connect, then STARTTLS is required before anything else
    TLS = "tls"  #: TLS from the first byte (SMTPS)
    NONE = "none"  #: no encryption; only allowed without credentials


DEFAULT_PORTS = {Security.STARTTLS: 587, Security.TLS: 465, Security.NONE: 25}


@dataclasses.dataclass(frozen=True)
class MailSettings:
    host: str
    sender: str  #: the `from` key
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    port: int = 587
    security: Security = Security.STARTTLS
    username: str | None = None
    #: Resolved from `password_env` when the settings were read; never shown.
    password: str | None = dataclasses.field(default=None, repr=False, compare=False)
    password_env: str | None = None
    password_file: str | None = None
    timeout: float = 30.0  #: seconds, for connecting and for each SMTP command
    ca_file: str | None = None  #: CA bundle trusted instead of the system's
    best_effort: bool = False  #: the caller carries on when delivery fails
    retry_for: float = 60.0  #: no new attempt starts later than this many seconds after the first
    source: str = dataclasses.field(default="", repr=False, compare=False)  #: the config file, for errors

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr and f.name != "password"
        )
        secret = "'***'" if self.password is not None else "None"
        return f"MailSettings({shown}, password={secret})"

    __str__ = __repr__

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str, env: Mapping[str, str]) -> MailSettings:
        """Read `confirm.mail`; `env` supplies the variable `password_env` names.

        A password variable that is unset or empty is not an error here: stages that never send mail read
        the same file. Sending without it raises ConfigError (see `smtp.read_password`).
        """
        section = Section(data, source=source, path=SECTION)
        if section.has("password"):
            section.raw("password")
            raise section.error(
                "password",
                "a password must not be written into the config file",
                hint="remove it; set `password_env: NAME` (a CI secret in the environment) or `password_file: PATH`",
            )
        security = Security(section.choice("security", tuple(s.value for s in Security), Security.STARTTLS.value))
        host = section.string("host", required=True)
        port = section.typed("port", int, DEFAULT_PORTS[security])
        if not 0 < port < 65536:
            raise section.error("port", f"{port} is not a TCP port", hint="use 1-65535, e.g. 587 for starttls")
        username = section.string("username")
        password_env = section.string("password_env")
        password_file = section.string("password_file")
        timeout = section.duration("timeout", 30.0)
        if timeout <= 0:
            raise section.error("timeout", "must be more than zero", hint='e.g. "30s"')
        settings = cls(
            host=_host(section, host),
            sender=_address(section, "from", section.string("from", required=True)),
            to=_addresses(section, "to", required=True),
            cc=_addresses(section, "cc", required=False),
            port=port,
            security=security,
            username=username or None,
            password=(env.get(password_env) or None) if password_env else None,
            password_env=password_env or None,
            password_file=password_file or None,
            timeout=timeout,
            ca_file=section.string("ca_file") or None,
            best_effort=section.boolean("best_effort", False),
            retry_for=section.duration("retry_for", 60.0),
            source=source,
        )
        section.done()
        _check_credentials(section, settings)
        return settings


def _check_credentials(section: Section, settings: MailSettings) -> None:
    if settings.password_env and settings.password_file:
        raise section.error("password_file", "give either password_env or password_file, not both")
    has_password = bool(settings.password_env or settings.password_file)
    if settings.username is None:
        if has_password:
            key = "password_env" if settings.password_env else "password_file"
            raise section.error(key, "a password without `username` is never used", hint="add `username:`")
        return
    if not has_password:
        raise section.error(
            "username",
            "is set but no password source is",
            hint="add `password_env: NAME` (an environment variable holding it) or `password_file: PATH`",
        )
    if settings.security is Security.NONE:
        raise section.error(
            "security",
            "`none` would send the username and password unencrypted",
            hint="use `starttls` (port 587) or `tls` (port 465), or drop `username` for a relay without login",
        )


def _host(section: Section, value: str) -> str:
    host = value.strip()
    if not host:
        raise section.error("host", "must not be empty")
    if "://" in host or "/" in host or " " in host:
        raise section.error("host", f"{value!r} is not a host name", hint="write only the name, e.g. smtp.example.com")
    return host


def _address(section: Section, key: str, value: str) -> str:
    _, addr = parseaddr(value)
    if "@" not in addr or "\n" in value or "\r" in value:
        raise section.error(key, f"{value!r} is not an e-mail address", hint='write e.g. "ci@example.com"')
    return value.strip()


def _addresses(section: Section, key: str, *, required: bool) -> tuple[str, ...]:
    values = section.string_list(key)
    if not values:
        if required:
            raise section.error(key, "needs at least one address", hint=f'add e.g. `{key}: ["ops@example.com"]`')
        return ()
    # A string may list several addresses separated by commas, as a To: header does.
    addresses: list[str] = []
    for name, addr in getaddresses(list(values)):
        if "@" not in addr:
            raise section.error(key, f"{addr or name!r} is not an e-mail address", hint='write e.g. "ops@example.com"')
        addresses.append(f"{name} <{addr}>" if name else addr)
    return tuple(addresses)
