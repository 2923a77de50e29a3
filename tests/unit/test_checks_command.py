"""Command checks, run for real with this Python: exit status, output, substitution, timeouts, retries."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pipeline_steps.checks import run_check
from pipeline_steps.checks.command_check import attempt_command, command_argv
from pipeline_steps.checks.spec import Attempts, CommandCheckSpec

PY = sys.executable


def python(
    code: str, *, timeout_s: float = 10.0, retries: int = 1, env: dict[str, str] | None = None
) -> CommandCheckSpec:
    return CommandCheckSpec("cmd", Attempts(timeout_s=timeout_s, retries=retries, interval_s=0.0), (PY, "-c", code),
                            env or {})  # fmt: skip


def counting_script(counter: Path, *, exit_code: str) -> str:
    """Python code that counts its runs in `counter`, prints the attempt, and exits with `exit_code` (of n)."""
    return (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(f'attempt {n}')\n"
        f"sys.exit({exit_code})"
    )


def test_exit_zero_passes() -> None:
    assert attempt_command(python("print('fine')"), None) == (True, f"{PY} exited 0")


def test_a_failure_reports_status_and_the_last_five_lines() -> None:
    code = "import sys\nfor i in range(8): print(f'line {i}')\nsys.exit(3)"
    passed, detail = attempt_command(python(code), None)
    assert not passed
    assert detail == f"{PY} exited 3: line 3 | line 4 | line 5 | line 6 | line 7"


def test_stderr_is_part_of_the_output() -> None:
    code = "import sys\nsys.stderr.write('boom: no route to host\\n')\nsys.exit(1)"
    assert attempt_command(python(code), None) == (False, f"{PY} exited 1: boom: no route to host")


def test_base_url_replaces_the_placeholder_and_is_in_the_environment() -> None:
    code = (
        "import os, sys\n"
        "ok = sys.argv[1] == 'http://10.0.0.5:8080/health' and os.environ['BASE_URL'] == 'http://10.0.0.5:8080'\n"
        "sys.exit(0 if ok else 9)"
    )
    check = CommandCheckSpec("cmd", Attempts(retries=1), (PY, "-c", code, "{base_url}/health"))
    assert command_argv(check, "http://10.0.0.5:8080") == [PY, "-c", code, "http://10.0.0.5:8080/health"]
    assert attempt_command(check, "http://10.0.0.5:8080") == (True, f"{PY} exited 0")


def test_without_a_base_url_the_placeholder_is_empty() -> None:
    check = CommandCheckSpec("cmd", Attempts(), ("curl", "{base_url}/x"))
    assert command_argv(check, None) == ["curl", "/x"]


def test_check_env_is_added_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_PARENT", "inherited")
    code = "import os, sys\nsys.exit(0 if os.environ['FROM_PARENT'] + os.environ['LEVEL'] == 'inheritedsmoke' else 4)"
    assert attempt_command(python(code, env={"LEVEL": "smoke"}), None)[0] is True


def test_no_shell_is_involved() -> None:
    code = "import sys\nsys.exit(0 if sys.argv[1] == '$HOME && echo hi' else 5)"
    check = CommandCheckSpec("cmd", Attempts(), (PY, "-c", code, "$HOME && echo hi"))
    assert attempt_command(check, None)[0] is True


def test_a_missing_program() -> None:
    check = CommandCheckSpec("cmd", Attempts(), ("/nonexistent/smoke-test",))
    assert attempt_command(check, None) == (False, "cannot run /nonexistent/smoke-test: No such file or directory")


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # killed, not yet reaped by whoever inherited it


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(30)"
    )
    started = time.monotonic()
    passed, detail = attempt_command(python(code, timeout_s=1.0), None)
    assert time.monotonic() - started < 5
    assert (passed, detail) == (False, f"{PY}: timed out after 1s")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _gone(child), f"the check's child {child} outlived the check"
    finally:
        if not _gone(child):
            os.kill(child, signal.SIGKILL)


def test_run_check_retries_a_command_until_it_passes(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    code = counting_script(counter, exit_code="0 if n >= 3 else 1")
    sleeps: list[float] = []
    check = CommandCheckSpec(
        "warmup", Attempts(timeout_s=10, retries=5, interval_s=0.25), (PY, "-c", code, "{base_url}")
    )
    result = run_check(check, base_url="http://svc", sleep=sleeps.append)
    assert (result.name, result.passed, result.attempts) == ("warmup", True, 3)
    assert result.target == f"{PY} -c {code} http://svc"
    assert sleeps == [0.25, 0.25]
    assert counter.read_text() == "3"


def test_run_check_reports_the_last_failure() -> None:
    check = python("import sys\nprint('still down')\nsys.exit(2)", retries=2)
    result = run_check(check, base_url=None, sleep=lambda _seconds: None)
    assert (result.passed, result.attempts, result.detail) == (False, 2, f"{PY} exited 2: still down")


def test_a_streak_cut_short_reports_the_failure_not_the_last_pass(tmp_path: Path) -> None:
    # Fails on attempt 2, passes on 1 and 3: with three passes in a row required it cannot pass.
    counter = tmp_path / "count"
    code = counting_script(counter, exit_code="1 if n == 2 else 0")
    check = CommandCheckSpec("flaky", Attempts(timeout_s=10, retries=3, interval_s=0, successes=3), (PY, "-c", code))
    result = run_check(check, base_url=None, sleep=lambda _seconds: None)
    assert (result.passed, result.attempts) == (False, 3)
    assert result.detail == f"1 of 3 consecutive passes when attempts ran out; last failure: {PY} exited 1: attempt 2"
