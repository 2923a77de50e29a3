"""The command line's part in approvals: who decides by default, and the terminal prompt's timeout."""

from __future__ import annotations

import getpass
import io
import os
import time
from collections.abc import Iterator

import pytest

from pipeline_steps import cli
from pipeline_steps.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BUILD_USER_ID": "jenkins-alice", "GITHUB_ACTOR": "gh-bob", "USER": "carol"}, "jenkins-alice"),
        ({"GITHUB_ACTOR": "gh-bob", "USER": "carol"}, "gh-bob"),
        ({"USER": "carol", "LOGNAME": "dave"}, "carol"),
        ({"LOGNAME": "dave"}, "dave"),
    ],
)
def test_default_approver_is_the_ci_user_else_the_login(env: dict[str, str], expected: str) -> None:
    assert cli.default_approver(env) == expected


def test_default_approver_without_any_name_asks_for_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)

    with pytest.raises(ConfigError) as caught:
        cli.default_approver({})

    assert caught.value.field == "--approver"
    assert "pass --approver NAME" in str(caught.value)


def test_approve_and_reject_take_approver_comment_and_run_id() -> None:
    args = cli.build_parser().parse_args(
        ["reject", "-c", "p.yaml", "--run-id", "r-1", "--approver", "alice", "--comment", "not now"]
    )

    assert (args.command, args.run_id, args.approver, args.comment) == ("reject", "r-1", "alice", "not now")


@pytest.fixture
def stdin_pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A pipe as standard input (select works on it as on a terminal); yields its write end."""
    read_end, write_end = os.pipe()
    reader = os.fdopen(read_end, "r")
    monkeypatch.setattr("sys.stdin", reader)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    try:
        yield write_end
    finally:
        reader.close()
        os.close(write_end)


def test_prompt_without_an_answer_times_out(stdin_pipe: int) -> None:
    started = time.monotonic()

    with pytest.raises(TimeoutError, match="no answer within"):
        cli._terminal_prompt("Release?", timeout=0.2)

    assert 0.15 < time.monotonic() - started < 5


@pytest.mark.parametrize(("typed", "expected"), [(b"y\n", True), (b"YES\n", True), (b"n\n", False), (b"\n", False)])
def test_prompt_answer_within_the_timeout(stdin_pipe: int, typed: bytes, expected: bool) -> None:
    os.write(stdin_pipe, typed)

    assert cli._terminal_prompt("Release?", timeout=5) is expected
