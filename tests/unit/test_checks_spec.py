"""Check lists of pipeline.yaml -> check specs, and every way a check can be written wrong."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.checks import parse_checks
from pipeline_steps.checks.spec import Attempts, CommandCheckSpec, HttpCheckSpec
from pipeline_steps.errors import ConfigError

SOURCE = "/repo/pipeline.yaml"
FIELD = "verify.staged"


def parse(items: Any) -> list[HttpCheckSpec | CommandCheckSpec]:
    return parse_checks(items, source=SOURCE, field=FIELD)


def problem(items: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(items)
    assert caught.value.source == SOURCE
    return caught.value


def test_no_checks() -> None:
    assert parse(None) == []
    assert parse([]) == []


def test_http_defaults() -> None:
    assert parse([{"http": {}}]) == [HttpCheckSpec(name="http-1", attempts=Attempts(5.0, 10, 1.0, 1))]


def test_a_full_http_check() -> None:
    [spec] = parse(
        [
            {
                "name": "api",
                "timeout": "2s",
                "retries": 5,
                "interval": "250ms",
                "successes": 3,
                "http": {
                    "url": "{base_url}/api",
                    "path": "/ignored",
                    "method": "post",
                    "headers": {"X-Token": "abc", "X-Count": 2},
                    "body": '{"q": 1}',
                    "expect_status": [200, 201],
                    "body_regex": "ok|fine",
                    "json": {"status.phase": "up", "items.0.id": 7},
                },
            }
        ]
    )
    assert spec == HttpCheckSpec(
        name="api",
        attempts=Attempts(timeout_s=2.0, retries=5, interval_s=0.25, successes=3),
        path="/ignored",
        url="{base_url}/api",
        method="POST",
        headers={"X-Token": "abc", "X-Count": "2"},
        body='{"q": 1}',
        expect_status=(200, 201),
        body_regex="ok|fine",
        json_fields={"status.phase": "up", "items.0.id": 7},
    )


def test_command_as_a_line_or_a_list() -> None:
    line, listed = parse(
        [
            {"command": "curl -fsS '{base_url}/health z'", "env": {"RETRY": 3}},
            {"name": "smoke", "command": ["./smoke.sh", "--level", 2]},
        ]
    )
    assert line == CommandCheckSpec("command-1", Attempts(), ("curl", "-fsS", "{base_url}/health z"), {"RETRY": "3"})
    assert listed == CommandCheckSpec("smoke", Attempts(), ("./smoke.sh", "--level", "2"))


def test_default_names_count_from_one_by_position() -> None:
    names = [spec.name for spec in parse([{"http": {}}, {"command": "true"}, {"http": {"path": "/b"}}])]
    assert names == ["http-1", "command-2", "http-3"]


def test_the_list_itself_must_be_a_list() -> None:
    error = problem({"name": "home", "http": {}})
    assert error.field == FIELD
    assert "must be a list of checks" in str(error)


def test_a_check_must_be_a_mapping() -> None:
    error = problem(["curl http://x"])
    assert error.field == "verify.staged[0]"
    assert "must be a mapping, not str" in str(error)


@pytest.mark.parametrize("item", [{"name": "x"}, {"http": {}, "command": "true"}])
def test_exactly_one_kind(item: dict[str, Any]) -> None:
    error = problem([item])
    assert error.field == "verify.staged[0].http"
    assert "a check needs exactly one of `http` or `command`" in str(error)


def test_duplicate_names_point_at_the_second() -> None:
    error = problem([{"name": "home", "http": {}}, {"name": "home", "command": "true"}])
    assert error.field == "verify.staged[1].name"
    assert "check name 'home' is used twice" in str(error)


@pytest.mark.parametrize(
    ("retries", "successes"),
    [(0, 1), (3, 0), (2, 3), (-1, 1)],
)
def test_successes_must_fit_in_retries(retries: int, successes: int) -> None:
    error = problem([{"http": {}, "retries": retries, "successes": successes}])
    assert error.field == "verify.staged[0].successes"
    assert f"needs 1 <= successes ({successes}) <= retries ({retries})" in str(error)


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"http": {}, "retries": "3"}, "verify.staged[0].retries", "must be int, not str '3'"),
        ({"http": {}, "retries": True}, "verify.staged[0].retries", "must be a number, not True"),
        ({"http": {}, "timeout": "soon"}, "verify.staged[0].timeout", "'soon' is not a duration"),
        ({"http": {}, "interval": -1}, "verify.staged[0].interval", "must not be negative"),
        ({"http": {}, "retry": 3}, "verify.staged[0].retry", "is not a known setting"),
        ({"http": {"pth": "/"}}, "verify.staged[0].http.pth", "is not a known setting"),
        ({"http": "/healthz"}, "verify.staged[0].http", "must be a mapping, not str"),
        ({"http": {"method": "FETCH"}}, "verify.staged[0].http.method", "'FETCH' is not an HTTP method"),
        ({"http": {"expect_status": 99}}, "verify.staged[0].http.expect_status", "99 is not an HTTP status"),
        ({"http": {"expect_status": "200"}}, "verify.staged[0].http.expect_status", "'200' is not an HTTP status"),
        ({"http": {"expect_status": [200, 600]}}, "verify.staged[0].http.expect_status", "[200, 600] is not"),
        ({"http": {"expect_status": []}}, "verify.staged[0].http.expect_status", "[] is not an HTTP status"),
        ({"http": {"body_regex": "(unclosed"}}, "verify.staged[0].http.body_regex", "not a valid regular expression"),
        ({"http": {"headers": ["X-A: 1"]}}, "verify.staged[0].http.headers", "must be dict, not list"),
        ({"http": {"json": "status=up"}}, "verify.staged[0].http.json", "must be dict, not str"),
        ({"command": []}, "verify.staged[0].command", "must be a command line or a non-empty list of arguments"),
        ({"command": {"run": "x"}}, "verify.staged[0].command", "must be a command line or a non-empty list"),
        ({"command": ["ls", None]}, "verify.staged[0].command", "must be a command line or a non-empty list"),
        ({"command": ""}, "verify.staged[0].command", "must be a command line or a non-empty list of arguments"),
        ({"command": "   "}, "verify.staged[0].command", "must be a command line or a non-empty list of arguments"),
        ({"command": "echo 'oops"}, "verify.staged[0].command", "cannot be split into arguments: No closing quotation"),
        ({"command": "true", "env": "A=1"}, "verify.staged[0].env", "must be dict, not str"),
        ({"command": "true", "http_path": "/"}, "verify.staged[0].http_path", "is not a known setting"),
    ],
)
def test_bad_fields_name_the_field(item: dict[str, Any], field: str, message: str) -> None:
    error = problem([item])
    assert error.field == field
    assert message in str(error)
    assert str(error).startswith(f"{SOURCE}: {field}: ")


def test_errors_name_the_list_they_are_in() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_checks([{"http": {}}, {"http": {"method": "FETCH"}}], source=SOURCE, field="verify.prod")
    assert caught.value.field == "verify.prod[1].http.method"
    assert caught.value.hint == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


@pytest.mark.parametrize(
    ("http", "field", "message"),
    [
        ({"url": "htp//nowhere"}, "url", "'htp//nowhere' is not an http or https URL"),
        ({"url": "ftp://host/x"}, "url", "'ftp://host/x' is not an http or https URL"),
        ({"url": "http:///path"}, "url", "'http:///path' is not an http or https URL"),
        ({"url": "http://[::1/x"}, "url", "is not an http or https URL"),
        ({"url": "http://host/a b"}, "url", "is not an http or https URL"),
        ({"path": "http://host/x"}, "path", "'http://host/x' is a URL, not a path"),
        ({"path": "/health check"}, "path", "'/health check' has spaces or control characters"),
    ],
)
def test_a_check_address_that_is_none_is_refused_before_anything_is_deployed(
    http: dict[str, str], field: str, message: str
) -> None:
    error = problem([{"http": http}])
    assert error.field == f"verify.staged[0].http.{field}"
    assert message in str(error)
    assert error.hint


@pytest.mark.parametrize("url", ["http://web:8080/x", "https://web.example/x?q=1", "{base_url}/api", "{base_url}"])
def test_check_urls_may_name_a_host_or_the_address_under_test(url: str) -> None:
    (spec,) = parse([{"http": {"url": url}}])
    assert isinstance(spec, HttpCheckSpec) and spec.url == url
