"""Check lists of pipeline.yaml (`verify.staged`, `verify.prod`) -> typed, validated check specs."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from typing import Any

from pipeline_steps.config_reader import Section
from pipeline_steps.errors import ConfigError

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


def parse_checks(items: Any, *, source: str, field: str) -> list[CheckSpec]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(
            "must be a list of checks", source=source, field=field, hint="e.g. - name: home\\n  http: {path: /}"
        )
    checks: list[CheckSpec] = []
    for index, item in enumerate(items):
        check = _parse_one(item, source=source, field=f"{field}[{index}]", index=index)
        if any(c.name == check.name for c in checks):
            raise ConfigError(f"check name {check.name!r} is used twice", source=source, field=f"{field}[{index}].name")
        checks.append(check)
    return checks


def _parse_one(item: Any, *, source: str, field: str, index: int) -> CheckSpec:
    section = Section(item, source=source, path=field)
    has_http, has_command = section.has("http"), section.has("command")
    if has_http == has_command:
        raise section.error("http", "a check needs exactly one of `http` or `command`")
    retries = section.typed("retries", int, 10)
    successes = section.typed("successes", int, 1)
    if retries < 1 or successes < 1 or successes > retries:
        raise section.error("successes", f"needs 1 <= successes ({successes}) <= retries ({retries})")
    attempts = Attempts(
        timeout_s=section.duration("timeout", 5.0),
        retries=retries,
        interval_s=section.duration("interval", 1.0),
        successes=successes,
    )
    if has_command:
        name = section.string("name", f"command-{index + 1}")
        raw = section.raw("command")
        if isinstance(raw, str):
            try:
                argv = tuple(shlex.split(raw))
            except ValueError as exc:
                raise section.error("command", f"cannot be split into arguments: {exc}") from exc
        elif isinstance(raw, list) and raw and all(isinstance(a, (str, int, float)) for a in raw):
            argv = tuple(str(a) for a in raw)
        else:
            argv = ()
        if not argv:
            raise section.error("command", "must be a command line or a non-empty list of arguments")
        env = section.typed("env", dict, {})
        section.done()
        return CommandCheckSpec(str(name), attempts, argv, {str(k): str(v) for k, v in env.items()})
    name = section.string("name", f"http-{index + 1}")
    http = section.section("http")
    method = str(http.string("method", "GET")).upper()
    if method not in HTTP_METHODS:
        raise http.error("method", f"{method!r} is not an HTTP method", hint=", ".join(HTTP_METHODS))
    status = http.raw("expect_status", 200)
    statuses = tuple(status) if isinstance(status, list) else (status,)
    if not statuses or not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
        raise http.error("expect_status", f"{status!r} is not an HTTP status or a list of them")
    regex = http.string("body_regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise http.error("body_regex", f"is not a valid regular expression: {exc}") from exc
    headers = http.typed("headers", dict, {})
    json_fields = http.typed("json", dict, {})
    spec = HttpCheckSpec(
        name=str(name),
        attempts=attempts,
        path=str(http.string("path", "/")),
        url=http.string("url"),
        method=method,
        headers={str(k): str(v) for k, v in headers.items()},
        body=http.string("body"),
        expect_status=statuses,
        body_regex=regex,
        json_fields=dict(json_fields),
    )
    http.done()
    section.done()
    return spec
