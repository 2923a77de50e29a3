"""Verification checks (HTTP and command) used by verify-staged and verify-prod."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import requests

from pipeline_steps.checks.command_check import attempt_command, command_argv
from pipeline_steps.checks.http_check import attempt_http, target_url
from pipeline_steps.checks.spec import CheckSpec, CommandCheckSpec, HttpCheckSpec, parse_checks
from pipeline_steps.errors import ConfigError
from pipeline_steps.report import CheckResult

__all__ = ["CheckSpec", "CommandCheckSpec", "HttpCheckSpec", "parse_checks", "run_check", "run_checks"]


def run_check(
    spec: CheckSpec,
    *,
    base_url: str | None,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    """Attempt until `successes` consecutive passes or `retries` attempts. The pause between attempts is
    the check's own probe interval, not a wait for cluster state, so it sleeps. `session` sends the HTTP
    requests (one through the apiserver's proxy carries the cluster credentials); default: a plain one."""
    started = clock()
    if isinstance(spec, HttpCheckSpec):
        url = target_url(spec, base_url)
        if url is None:
            raise ConfigError(
                f"check {spec.name!r} has only a path and there is no endpoint to join it to",
                field=f"verify: {spec.name}",
                hint="give http.url, or `access: {staged|prod}: {url: ...}`, or a test Service in the manifests",
            )
        http = session or requests.Session()
        target = url

        def attempt() -> tuple[bool, str]:
            return attempt_http(spec, url, http)
    else:
        target = " ".join(command_argv(spec, base_url))

        def attempt() -> tuple[bool, str]:
            return attempt_command(spec, base_url)

    streak, detail, attempts, last_failure = 0, "", 0, ""
    for attempts in range(1, spec.attempts.retries + 1):  # attempts is reported after the loop
        passed, detail = attempt()
        streak = streak + 1 if passed else 0
        if not passed:
            last_failure = detail
        if streak >= spec.attempts.successes:
            return CheckResult(spec.name, target, True, attempts, clock() - started, detail)
        if attempts < spec.attempts.retries:
            sleep(spec.attempts.interval_s)
    # A failed check reports why: its last failing attempt, and the streak it missed when that ended passing.
    if streak:
        detail = (
            f"{streak} of {spec.attempts.successes} consecutive passes when attempts ran out; "
            f"last failure: {last_failure}"
        )
    return CheckResult(spec.name, target, False, attempts, clock() - started, detail or last_failure)


def run_checks(
    specs: Sequence[CheckSpec],
    *,
    base_url: str | None,
    on_result: Callable[[CheckResult], None] | None = None,
    session: requests.Session | None = None,
) -> list[CheckResult]:
    """All checks, in order; a failure does not stop the rest, so a report shows every result."""
    results = []
    for spec in specs:
        result = run_check(spec, base_url=base_url, session=session)
        if on_result:
            on_result(result)
        results.append(result)
    return results
