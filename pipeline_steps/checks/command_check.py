"""One attempt of a command check: run it without a shell; it passes when it exits 0."""

from __future__ import annotations

import os
import signal
import subprocess

from pipeline_steps.checks.spec import CommandCheckSpec


def command_argv(spec: CommandCheckSpec, base_url: str | None) -> list[str]:
    return [arg.replace("{base_url}", base_url or "") for arg in spec.argv]


def attempt_command(spec: CommandCheckSpec, base_url: str | None) -> tuple[bool, str]:
    argv = command_argv(spec, base_url)
    env = {**os.environ, **spec.env, "BASE_URL": base_url or ""}
    try:
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    except OSError as exc:
        return False, f"cannot run {argv[0]}: {exc.strerror}"
    try:
        output, _ = process.communicate(timeout=spec.attempts.timeout_s)
    except subprocess.TimeoutExpired:
        # The whole process group: a script's children must not outlive the check.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return False, f"{argv[0]}: timed out after {spec.attempts.timeout_s:g}s"
    tail = " | ".join(output.strip().splitlines()[-5:])
    if process.returncode != 0:
        return False, f"{argv[0]} exited {process.returncode}: {tail}"
    return True, f"{argv[0]} exited 0"
