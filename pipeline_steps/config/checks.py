"""The check lists of pipeline.yaml (`verify.staged`, `verify.prod`), and the check specs the runner executes.

A check is written as the file shows it (`CheckItem`: attempts beside an `http` or a `command`); the
checks package runs the flatter specs made from it (`HttpCheckSpec`, `CommandCheckSpec`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic.json_schema import JsonSchemaValue

from pipeline_steps.config.fields import (
    AnyMap,
    Count,
    Duration,
    Location,
    MaybeText,
    Section,
    StringMap,
    Text,
    problem,
    problems,
    text,
)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclasses.dataclass(frozen=True)
class Attempts:
    timeout_s: float = 5.0  #: per attempt
    retries: int = 10  #: attempts before giving up
    interval_s: float = 1.0  #: between attempts
    successes: int = 1  #: consecutive passing attempts required


@dataclasses.dataclass(frozen=True)
class HttpCheckSpec:
    name: str
    attempts: Attempts
    path: str = "/"  #: joined to the base URL (the test or public Service's address)
    url: str | None = None  #: an explicit URL instead; may contain {base_url}
    method: str = "GET"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None
    expect_status: tuple[int, ...] = (200,)
    body_regex: str | None = None
    json_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)  #: dotted path -> expected value


@dataclasses.dataclass(frozen=True)
class CommandCheckSpec:
    name: str
    attempts: Attempts
    argv: tuple[str, ...]  #: {base_url} is replaced; run without a shell
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)


CheckSpec = HttpCheckSpec | CommandCheckSpec


def _method(value: Any) -> str:
    method = text(value).upper()
    if method not in HTTP_METHODS:
        raise problem(f"{method!r} is not an HTTP method", ", ".join(HTTP_METHODS))
    return method


def _statuses(value: Any) -> tuple[int, ...]:
    statuses = tuple(value) if isinstance(value, list) else (value,)
    if not statuses or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses):
        raise problem(f"{value!r} is not an HTTP status or a list of them")
    return statuses


def _regex(value: Any) -> str:
    pattern = text(value)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise problem(f"is not a valid regular expression: {exc}") from exc
    return pattern


def _path(path: str) -> str:
    if "://" in path:
        raise problem(f"{path!r} is a URL, not a path", "write it as `url:`, or keep only the path (e.g. /healthz)")
    if any(character.isspace() or not character.isprintable() for character in path):
        raise problem(f"{path!r} has spaces or control characters", "percent-encode them, e.g. %20 for a space")
    return path


def _url(url: str | None) -> str | None:
    if url is None:
        return None
    # {base_url} stands for the staged or public address, an http URL itself.
    try:
        parts = urllib.parse.urlsplit(url.replace("{base_url}", "http://base.example"))
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)
    except ValueError:  # an unclosed [IPv6 address
        valid = False
    if not valid:
        raise problem(
            f"{url!r} is not an http or https URL",
            "write http(s)://HOST[:PORT]/PATH, or {base_url}/PATH for the address under test (or give only a `path`)",
        )
    return url


def _argv(value: Any) -> tuple[str, ...]:
    argv: tuple[str, ...] = ()
    if isinstance(value, str):
        try:
            argv = tuple(shlex.split(value))
        except ValueError as exc:
            raise problem(f"cannot be split into arguments: {exc}") from exc
    elif isinstance(value, list) and all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value):
        argv = tuple(str(a) for a in value)
    if not argv:
        raise problem("must be a command line or a non-empty list of arguments")
    return argv


_STATUS: JsonSchemaValue = {"type": "integer", "minimum": 100, "maximum": 599}
_STATUS_SCHEMA: JsonSchemaValue = {"anyOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}]}
_METHOD_SCHEMA: JsonSchemaValue = {"enum": [*HTTP_METHODS, *(m.lower() for m in HTTP_METHODS)]}
_ARGV_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1},
    ]
}


class HttpRequest(Section):
    """An HTTP request and what its answer must show to pass."""

    path: Annotated[Text, AfterValidator(_path)] = Field(
        default="/", description="Joined to the base URL (the test or public Service's address)."
    )
    url: Annotated[MaybeText, AfterValidator(_url)] = Field(
        default=None, description="An explicit URL instead of `path`; may contain {base_url}."
    )
    method: Annotated[str, BeforeValidator(_method), WithJsonSchema(_METHOD_SCHEMA)] = Field(
        default="GET", description="The HTTP method."
    )
    headers: StringMap = Field(default_factory=dict, description="Request headers.")
    body: MaybeText = Field(default=None, description="The request body.")
    expect_status: Annotated[tuple[int, ...], BeforeValidator(_statuses), WithJsonSchema(_STATUS_SCHEMA)] = Field(
        default=(200,), description="The status, or a list of statuses, that pass."
    )
    body_regex: Annotated[str | None, BeforeValidator(_regex)] = Field(
        default=None, description="A regular expression the body must contain a match of."
    )
    json_fields: AnyMap = Field(
        default_factory=dict,
        alias="json",
        description="Fields the JSON body must have: dotted path (e.g. items.0.id) -> expected value.",
    )


class CheckItem(Section):
    """One check: an `http` request or a `command`, tried until it passes `successes` times in a row."""

    model_config = Section.model_config | {
        "json_schema_extra": {"oneOf": [{"required": ["http"]}, {"required": ["command"]}]}
    }

    name: MaybeText = Field(default=None, description="Names the check in reports (default: http-N or command-N).")
    http: HttpRequest | None = Field(default=None, description="An HTTP request to the staged or public address.")
    command: Annotated[tuple[str, ...] | None, BeforeValidator(_argv), WithJsonSchema(_ARGV_SCHEMA)] = Field(
        default=None,
        description="A command line or a list of arguments, run without a shell; {base_url} is replaced.",
    )
    env: StringMap = Field(default_factory=dict, description="Environment variables for the command.")
    timeout: Duration = Field(default=5.0, description="Per attempt (seconds, or e.g. 5s).")
    retries: Count = Field(default=10, description="Attempts before giving up.")
    interval: Duration = Field(default=1.0, description="Between attempts (seconds, or e.g. 1s).")
    successes: Count = Field(default=1, description="Consecutive passing attempts required.")

    @model_validator(mode="after")
    def _one_kind_and_attempts_that_fit(self) -> CheckItem:
        found: list[tuple[Location, str, str | None, Any]] = []
        if (self.http is None) == (self.command is None):
            found.append((("http",), "a check needs exactly one of `http` or `command`", None, None))
        elif self.http is not None and self.env:
            found.append((("env",), "applies to `command` checks only", "remove it, or pass headers in `http`", None))
        if self.retries < 1 or self.successes < 1 or self.successes > self.retries:
            message = f"needs 1 <= successes ({self.successes}) <= retries ({self.retries})"
            found.append((("successes",), message, None, None))
        if found:
            raise problems(type(self).__name__, found)
        return self

    @property
    def kind(self) -> str:
        return "http" if self.http is not None else "command"

    def spec(self) -> CheckSpec:
        attempts = Attempts(self.timeout, self.retries, self.interval, self.successes)
        name = self.name or self.kind
        if self.http is None:
            return CommandCheckSpec(name, attempts, self.command or (), dict(self.env))
        http = self.http
        return HttpCheckSpec(
            name=name,
            attempts=attempts,
            path=http.path,
            url=http.url,
            method=http.method,
            headers=dict(http.headers),
            body=http.body,
            expect_status=http.expect_status,
            body_regex=http.body_regex,
            json_fields=dict(http.json_fields),
        )


def _check_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise problem("must be a list of checks", "e.g. - name: home\\n  http: {path: /}")
    return value


def _named_once(items: tuple[CheckItem, ...]) -> tuple[CheckItem, ...]:
    """Every check named (by kind and position when the file does not name it), each name used once."""
    named = tuple(
        item if item.name else item.model_copy(update={"name": f"{item.kind}-{index + 1}"})
        for index, item in enumerate(items)
    )
    seen: set[str | None] = set()
    found: list[tuple[Location, str, str | None, Any]] = []
    for index, item in enumerate(named):
        if item.name in seen:
            found.append(((index, "name"), f"check name {item.name!r} is used twice", None, item.name))
        seen.add(item.name)
    if found:
        raise problems("checks", found)
    return named


#: A check list: the checks in order, each named.
Checks = Annotated[tuple[CheckItem, ...], BeforeValidator(_check_list), AfterValidator(_named_once)]


def specs(items: Sequence[CheckItem]) -> tuple[CheckSpec, ...]:
    return tuple(item.spec() for item in items)
