"""The `confirm.mail` section of pipeline.yaml: where and how the approval e-mail is sent."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from email.utils import getaddresses, parseaddr
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue

from pipeline_steps.config.fields import (
    TEMPLATED,
    Duration,
    Flag,
    Location,
    MaybeText,
    Section,
    one_of,
    problem,
    problems,
    text,
)
from pipeline_steps.config.validation import validate

SECTION = "confirm.mail"


class Security(enum.StrEnum):
    STARTTLS = "starttls"  #: plain connect, then STARTTLS is required before anything else
    TLS = "tls"  #: TLS from the first byte (SMTPS)
    NONE = "none"  #: no encryption; only allowed without credentials


DEFAULT_PORTS = {Security.STARTTLS: 587, Security.TLS: 465, Security.NONE: 25}
_ADDRESS_HINT = 'write e.g. "ops@example.com"'


def _host(value: Any) -> str:
    written = text(value)
    host = written.strip()
    if not host:
        raise problem("must not be empty")
    if "://" in host or "/" in host or " " in host:
        raise problem(f"{written!r} is not a host name", "write only the name, e.g. smtp.example.com")
    return host


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(f"must be int, not {type(value).__name__} {value!r}")
    if not 0 < value < 65536:
        raise problem(f"{value} is not a TCP port", "use 1-65535, e.g. 587 for starttls")
    return value


def _sender(value: Any) -> str:
    written = text(value)
    _, addr = parseaddr(written)
    if "@" not in addr or "\n" in written or "\r" in written:
        raise problem(f"{written!r} is not an e-mail address", 'write e.g. "ci@example.com"')
    return written.strip()


def _recipients(value: Any) -> tuple[str, ...]:
    if isinstance(value, bool) or not isinstance(value, (str, list, tuple)):
        raise problem(f"must be a string or a list of strings, not {value!r}")
    written = [value] if isinstance(value, str) else [text(v) for v in value]
    # A string may list several addresses separated by commas, as a To: header does.
    addresses: list[str] = []
    for name, addr in getaddresses(written):
        if "@" not in addr:
            raise problem(f"{addr or name!r} is not an e-mail address", _ADDRESS_HINT)
        addresses.append(f"{name} <{addr}>" if name else addr)
    return tuple(addresses)


def _some(addresses: tuple[str, ...]) -> tuple[str, ...]:
    if not addresses:
        raise problem("needs at least one address", 'add e.g. `to: ["ops@example.com"]`')
    return addresses


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise problem("must be more than zero", 'e.g. "30s"')
    return seconds


def _without_default(schema: JsonDict) -> None:
    """The port's default depends on `security`: the description says which."""
    schema.pop("default", None)


_RECIPIENTS_SCHEMA: JsonSchemaValue = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
Recipients = Annotated[tuple[str, ...], BeforeValidator(_recipients), WithJsonSchema(_RECIPIENTS_SCHEMA)]


class MailSettings(Section):
    """Where and how the approval e-mail is sent: an SMTP server, always over TLS when credentials are sent."""

    holds: ClassVar[str] = "host, port, from, to..."
    missing_hints: ClassVar[Mapping[str, str]] = {"to": 'add e.g. `to: ["ops@example.com"]`'}
    refused: ClassVar[Mapping[str, tuple[str, str]]] = {
        "password": (
            "a password must not be written into the config file",
            "remove it; set `password_env: NAME` (a CI secret in the environment) or `password_file: PATH`",
        )
    }

    host: Annotated[str, BeforeValidator(_host)] = Field(description="The SMTP server's host name.")
    sender: Annotated[str, BeforeValidator(_sender)] = Field(
        alias="from", description='The sender, e.g. "Release pipeline <ci@example.com>".'
    )
    to: Annotated[Recipients, AfterValidator(_some)] = Field(
        description="Recipients: a list, or one string of addresses separated by commas."
    )
    cc: Recipients = Field(default=(), description="Copy recipients, written as `to`.")
    port: Annotated[int, BeforeValidator(_port), TEMPLATED] = Field(
        default=587,
        description="The server's port; without it: 587 for starttls, 465 for tls, 25 for none.",
        json_schema_extra=_without_default,
    )
    security: Annotated[Security, one_of(Security), TEMPLATED] = Field(
        default=Security.STARTTLS,
        description="starttls: STARTTLS required before anything else; tls: TLS from the first byte (SMTPS); "
        "none: no encryption, only allowed without credentials.",
    )
    username: MaybeText = Field(default=None, description="Log in as this user (needs a password source).")
    password_env: MaybeText = Field(
        default=None, description="The environment variable holding the password (a CI secret), read when sending."
    )
    password_file: MaybeText = Field(
        default=None, description="A file holding the password, read when sending; relative to the working directory."
    )
    timeout: Annotated[Duration, AfterValidator(_positive)] = Field(
        default=30.0, description="For connecting and for each SMTP command (seconds, or e.g. 30s)."
    )
    ca_file: MaybeText = Field(default=None, description="A PEM CA bundle trusted instead of the system's CAs.")
    best_effort: Flag = Field(default=False, description="true: a failed e-mail does not fail the confirm step.")
    retry_for: Duration = Field(
        default=60.0, description="No new delivery attempt starts later than this after the first (e.g. 1m)."
    )

    _password: str | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="")

    @classmethod
    def completed(cls, data: dict[Any, Any]) -> dict[Any, Any]:
        if "port" not in data and data.get("security", Security.STARTTLS) in tuple(Security):
            return {**data, "port": DEFAULT_PORTS[Security(data.get("security", Security.STARTTLS))]}
        return data

    @model_validator(mode="after")
    def _credentials(self, info: ValidationInfo) -> MailSettings:
        if isinstance(info.context, Mapping):
            self._source = str(info.context.get("source") or "")
        found: list[tuple[Location, str, str | None, Any]] = []
        if self.password_env and self.password_file:
            found.append((("password_file",), "give either password_env or password_file, not both", None, None))
        has_password = bool(self.password_env or self.password_file)
        if not self.username and has_password:
            key = "password_env" if self.password_env else "password_file"
            found.append(((key,), "a password without `username` is never used", "add `username:`", None))
        elif self.username and not has_password:
            hint = "add `password_env: NAME` (an environment variable holding it) or `password_file: PATH`"
            found.append((("username",), "is set but no password source is", hint, None))
        elif self.username and self.security is Security.NONE:
            found.append(
                (
                    ("security",),
                    "`none` would send the username and password unencrypted",
                    "use `starttls` (port 587) or `tls` (port 465), or drop `username` for a relay without login",
                    None,
                )
            )
        if found:
            raise problems(type(self).__name__, found)
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str, env: Mapping[str, str]) -> MailSettings:
        """Read `confirm.mail` given as plain data; `env` supplies the variable `password_env` names."""

        settings: MailSettings = validate(cls, data, source=source, prefix=SECTION)
        return settings.with_password_from(env)

    def with_password_from(self, env: Mapping[str, str]) -> MailSettings:
        """These settings with the password read from the variable `password_env` names.

        A variable that is unset or empty is not an error here: stages that never send mail read the same
        file. Sending without it raises ConfigError (see `smtp.read_password`).
        """
        settings = self.model_copy()
        settings._password = (env.get(self.password_env) or None) if self.password_env else None
        return settings

    @property
    def password(self) -> str | None:
        """Resolved from `password_env` by `with_password_from`; never shown."""
        return self._password

    @property
    def source(self) -> str:
        """The config file, for errors."""
        return self._source

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).model_fields)
        secret = "'***'" if self.password is not None else "None"
        return f"MailSettings({shown}, password={secret})"

    __str__ = __repr__
