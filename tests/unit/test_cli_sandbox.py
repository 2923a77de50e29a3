"""`pipeline-steps sandbox`: present where the sandbox distribution is installed, a hint where it is not,
and never an import of the sandbox by the release library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps import cli, cli_sandbox
from pipeline_steps.outcome import ExitCode

LIBRARY = Path(cli.__file__).resolve().parent


def test_without_the_sandbox_the_command_says_how_to_install_it_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_sandbox, "installed", lambda: False)

    code = cli.main(["sandbox", "up", "--nodes", "1"])

    assert code == ExitCode.USAGE
    assert code == 2  # the documented number
    err = capsys.readouterr().err
    assert "pip install pipeline-steps-sandbox" in err
    assert "pip install -e ./sandbox" in err


def test_without_the_sandbox_help_does_not_list_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_sandbox, "installed", lambda: False)
    listed = cli.build_parser().format_help()
    assert "a local Kubernetes" not in listed

    monkeypatch.setattr(cli_sandbox, "installed", lambda: True)
    assert "a local Kubernetes" in cli.build_parser().format_help()


def test_every_argument_after_sandbox_goes_to_the_sandbox_command_options_and_help_included() -> None:
    args = cli.build_parser().parse_args(["sandbox", "status", "--output", "json", "--dir", "/x", "--help"])
    assert args.command == "sandbox"
    assert args.sandbox_args == ["status", "--output", "json", "--dir", "/x", "--help"]


def test_with_the_sandbox_its_own_exit_code_passes_through(tmp_path: Path) -> None:
    # A directory where no sandbox ever ran: the sandbox command's "not running", not a release outcome.
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline_steps.cli", "sandbox", "status", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 10, completed
    assert "running: False" in completed.stdout


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_release_library_never_imports_the_sandbox() -> None:
    offenders = {
        str(path.relative_to(LIBRARY)): sorted(name for name in _imported_modules(path) if "sandbox" in name)
        for path in LIBRARY.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_help_of_the_library_loads_nothing_of_the_sandbox() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from pipeline_steps import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pipeline_steps_sandbox', 'cryptography'))))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert completed.stdout.strip() == "[]"
