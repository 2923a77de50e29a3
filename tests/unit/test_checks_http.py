"""HTTP checks against a real local server (127.0.0.1, a free port): assertions, failures, retries."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from pipeline_steps.checks import run_check
from pipeline_steps.checks.http_check import attempt_http, target_url
from pipeline_steps.checks.spec import Attempts, HttpCheckSpec
from pipeline_steps.errors import ConfigError

DOCUMENT = {"status": {"phase": "up", "ready": True}, "items": [{"id": 7}, {"id": 8}], "count": 3}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Statuses /scripted answers with, one per request; 200 once it runs out.
    script: list[int]
    #: (method, path, headers, body) of every request.
    seen: list[tuple[str, str, dict[str, str], str]]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: str, content_type: str = "text/plain", **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.seen.append((self.command, self.path, dict(self.headers.items()), body))
        if self.path == "/ok":
            self._answer(200, "all good: version 1.4.2")
        elif self.path == "/json":
            self._answer(200, json.dumps(DOCUMENT), "application/json")
        elif self.path.startswith("/status/"):
            self._answer(int(self.path.removeprefix("/status/")), "status page")
        elif self.path == "/redirect":
            self._answer(302, "", Location="/ok")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, "late")
        elif self.path == "/scripted":
            self._answer(self.server.script.pop(0) if self.server.script else 200, "scripted")
        else:
            self._answer(404, "no such page")

    do_GET = do_POST = do_HEAD = do_PUT = _handle


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests honours proxy variables; the local server must be reached directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.script, httpd.seen = [], []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def base(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def spec(path: str = "/ok", **fields: Any) -> HttpCheckSpec:
    attempts = fields.pop("attempts", Attempts(timeout_s=2.0, retries=1, interval_s=0.0))
    return HttpCheckSpec(name="check", attempts=attempts, path=path, **fields)


def attempt(server: Server, check: HttpCheckSpec) -> tuple[bool, str]:
    url = target_url(check, base(server))
    assert url is not None
    with requests.Session() as session:
        return attempt_http(check, url, session)


# -- target_url ---------------------------------------------------------------------------------------


def test_target_url_joins_path_to_base() -> None:
    assert target_url(spec("/healthz"), "http://10.0.0.1:8080/") == "http://10.0.0.1:8080/healthz"
    assert target_url(spec("healthz"), "http://10.0.0.1:8080") == "http://10.0.0.1:8080/healthz"
    assert target_url(spec("/healthz"), None) is None


def test_target_url_prefers_an_explicit_url() -> None:
    assert target_url(spec(url="{base_url}/v2/ping"), "http://svc") == "http://svc/v2/ping"
    assert target_url(spec(url="https://example.test/ping"), None) == "https://example.test/ping"


# -- one attempt --------------------------------------------------------------------------------------


def test_expected_status_passes(server: Server) -> None:
    assert attempt(server, spec("/ok")) == (True, f"GET {base(server)}/ok -> 200")


def test_unexpected_status_says_what_was_expected(server: Server) -> None:
    passed, detail = attempt(server, spec("/status/503", expect_status=(200, 204)))
    assert not passed
    assert detail == f"GET {base(server)}/status/503 -> 503, expected 200 or 204"


def test_a_non_200_status_can_be_expected(server: Server) -> None:
    assert attempt(server, spec("/missing", expect_status=(404,)))[0] is True


def test_redirects_are_not_followed(server: Server) -> None:
    assert attempt(server, spec("/redirect", expect_status=(302,)))[0] is True
    passed, detail = attempt(server, spec("/redirect"))
    assert not passed
    assert detail.endswith("-> 302, expected 200")
    assert [request[1] for request in server.seen] == ["/redirect", "/redirect"]


def test_body_regex(server: Server) -> None:
    assert attempt(server, spec("/ok", body_regex=r"version 1\.4\.\d"))[0] is True
    passed, detail = attempt(server, spec("/ok", body_regex=r"version 2\."))
    assert not passed
    assert detail == (
        f"GET {base(server)}/ok -> 200: body does not match /version 2\\./ (first 200 chars: 'all good: version 1.4.2')"
    )


def test_json_fields_by_dotted_path(server: Server) -> None:
    fields = {"status.phase": "up", "status.ready": True, "items.1.id": 8, "count": "3"}
    assert attempt(server, spec("/json", json_fields=fields)) == (True, f"GET {base(server)}/json -> 200")


def test_json_field_with_another_value(server: Server) -> None:
    passed, detail = attempt(server, spec("/json", json_fields={"status.phase": "down"}))
    assert not passed
    assert detail == f"GET {base(server)}/json -> 200: json field status.phase is 'up', expected 'down'"


@pytest.mark.parametrize("path", ["status.missing", "items.2.id", "items.x", "count.value"])
def test_missing_json_field(server: Server, path: str) -> None:
    passed, detail = attempt(server, spec("/json", json_fields={path: 1}))
    assert not passed
    assert detail.endswith(f": json field {path} is missing")


def test_json_fields_on_a_body_that_is_not_json(server: Server) -> None:
    passed, detail = attempt(server, spec("/ok", json_fields={"a": 1}))
    assert not passed
    assert detail.endswith("-> 200: body is not JSON (first 200 chars: 'all good: version 1.4.2')")


def test_method_headers_and_body_are_sent(server: Server) -> None:
    check = spec("/ok", method="POST", headers={"X-Release": "r-42", "Authorization": "Bearer t"}, body="ping=1")
    assert attempt(server, check)[0] is True
    [(method, path, headers, body)] = server.seen
    assert (method, path, body) == ("POST", "/ok", "ping=1")
    assert headers["X-Release"] == "r-42"
    assert headers["Authorization"] == "Bearer t"


def test_head_request(server: Server) -> None:
    assert attempt(server, spec("/ok", method="HEAD")) == (True, f"HEAD {base(server)}/ok -> 200")


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ok"
    with requests.Session() as session:
        assert attempt_http(spec(), url, session) == (False, f"GET {url}: connection refused")


def test_timeout(server: Server) -> None:
    check = spec("/slow", attempts=Attempts(timeout_s=0.2, retries=1))
    started = time.monotonic()
    assert attempt(server, check) == (False, f"GET {base(server)}/slow: timed out after 0.2s")
    assert time.monotonic() - started < 0.9


# -- run_check: retries and consecutive successes -----------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(server: Server, check: HttpCheckSpec, fake: FakeTime) -> Any:
    return run_check(check, base_url=base(server), clock=fake.clock, sleep=fake.sleep)


def test_retries_until_the_check_passes(server: Server) -> None:
    server.script = [503, 502, 200]
    fake = FakeTime()
    result = run(server, spec("/scripted", attempts=Attempts(timeout_s=2, retries=5, interval_s=1.5)), fake)
    assert (result.name, result.target, result.passed, result.attempts) == (
        "check", f"{base(server)}/scripted", True, 3,
    )  # fmt: skip
    assert result.detail == f"GET {base(server)}/scripted -> 200"
    assert fake.sleeps == [1.5, 1.5]
    assert result.duration_s == 3.0
    assert len(server.seen) == 3


def test_gives_up_after_retries_with_the_last_reason(server: Server) -> None:
    server.script = [503, 503, 500, 200]
    fake = FakeTime()
    result = run(server, spec("/scripted", attempts=Attempts(timeout_s=2, retries=3, interval_s=1.0)), fake)
    assert (result.passed, result.attempts) == (False, 3)
    assert result.detail == f"GET {base(server)}/scripted -> 500, expected 200"
    assert fake.sleeps == [1.0, 1.0]  # no pause after the last attempt
    assert len(server.seen) == 3


def test_successes_must_be_consecutive(server: Server) -> None:
    server.script = [200, 503, 200, 200, 200]
    attempts = Attempts(timeout_s=2, retries=10, interval_s=0.5, successes=3)
    result = run(server, spec("/scripted", attempts=attempts), FakeTime())
    assert (result.passed, result.attempts) == (True, 5)


def test_a_streak_cut_short_by_the_last_attempt_fails(server: Server) -> None:
    server.script = [200, 503, 200]
    attempts = Attempts(timeout_s=2, retries=3, interval_s=0.5, successes=2)
    result = run(server, spec("/scripted", attempts=attempts), FakeTime())
    assert (result.passed, result.attempts) == (False, 3)


def test_a_path_without_a_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        run_check(spec("/ok"), base_url=None)
    assert caught.value.field == "verify: check"
    assert "check 'check' has only a path and there is no endpoint to join it to" in str(caught.value)
    assert (
        caught.value.hint == "give http.url, or `access: {staged|prod}: {url: ...}`, or a test Service in the manifests"
    )


def test_an_explicit_url_needs_no_base_url(server: Server) -> None:
    result = run_check(spec(url=f"{base(server)}/ok"), base_url=None)
    assert (result.passed, result.target) == (True, f"{base(server)}/ok")
