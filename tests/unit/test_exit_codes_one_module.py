"""Every exit code is decided in pipeline_steps/outcome.py; only cli.py ends the process with one.

import-linter cannot say "nobody but outcome.py picks an ExitCode", so this reads the library's syntax
trees: outside those two modules no code exits (`sys.exit`, `exit`, `os._exit`, `SystemExit`), picks an
exit code (`ExitCode.FAILED`, `ExitCode(3)`), or returns a bare number from a command's `main` or `run`
(`-> int`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "pipeline_steps"
#: outcome.py holds the table and the function that picks from it; cli.py exits with what it picked.
ALLOWED = {"outcome.py", "cli.py"}
EXIT_CALLS = {("sys", "exit"), ("os", "_exit"), (None, "exit"), (None, "quit")}
#: A command's entry point: what it returns is the process's exit code.
ENTRY_POINTS = {"main", "run"}

#: Modules that decide exit codes today, each until the change named.
TODAY: dict[str, str] = {}


def _called(node: ast.Call) -> tuple[str | None, str] | None:
    function = node.func
    if isinstance(function, ast.Name):
        return None, function.id
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
        return function.value.id, function.attr
    return None


def _returns_int(function: ast.FunctionDef) -> bool:
    return isinstance(function.returns, ast.Name) and function.returns.id == "int"


def _int_literals(expression: ast.expr) -> list[int]:
    """The numbers a return statement may hand back as they are: `3`, `0 if ok else 3`."""
    if isinstance(expression, ast.Constant) and type(expression.value) is int:
        return [expression.value]
    if isinstance(expression, ast.IfExp):
        return [*_int_literals(expression.body), *_int_literals(expression.orelse)]
    return []


def exit_code_decisions(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` exits or picks an exit code, as `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _called(node) in EXIT_CALLS | {(None, "ExitCode")}:
            module, name = _called(node) or (None, "")
            found.append(f"{node.lineno}: {module + '.' if module else ''}{name}(...)")
        elif isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "SystemExit":
                found.append(f"{node.lineno}: raise SystemExit")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ExitCode":
            found.append(f"{node.lineno}: ExitCode.{node.attr}")
        elif isinstance(node, ast.FunctionDef) and node.name in ENTRY_POINTS and _returns_int(node):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    for number in _int_literals(inner.value):
                        found.append(f"{inner.lineno}: {node.name} returns {number}")
    return sorted(found, key=lambda entry: int(entry.split(":")[0]))


def _modules() -> list[pytest.ParameterSet]:
    params = []
    for path in sorted(LIBRARY.rglob("*.py")):
        name = path.relative_to(LIBRARY).as_posix()
        if name in ALLOWED:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=TODAY[name])] if name in TODAY else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def test_the_scan_finds_each_way_of_deciding_an_exit_code() -> None:
    source = """
import os, sys
def main() -> int:
    if sys.argv:
        return 3
    return 0
def stop() -> None:
    sys.exit(1)
def halt() -> None:
    os._exit(2)
def leave() -> None:
    raise SystemExit(4)
def pick(failed: bool) -> int:
    return ExitCode.FAILED if failed else ExitCode(0)
def run(running: bool) -> int:
    return 0 if running else 3
"""
    assert exit_code_decisions(source) == [
        "5: main returns 3",
        "6: main returns 0",
        "8: sys.exit(...)",
        "10: os._exit(...)",
        "12: raise SystemExit",
        "14: ExitCode.FAILED",
        "14: ExitCode(...)",
        "16: run returns 0",
        "16: run returns 3",
    ]
    # Reading a report's code, or a count that is not an exit code, is not deciding one.
    harmless = "def main() -> int:\n    return report.exit_code\ndef run() -> Report:\n    return 0\nn = len([0])\n"
    assert exit_code_decisions(harmless) == []


@pytest.mark.parametrize("module", _modules())
def test_no_module_but_outcome_and_cli_decides_an_exit_code(module: str) -> None:
    path = LIBRARY / module
    assert exit_code_decisions(path.read_text(), str(path)) == []


def test_every_module_excused_today_still_exists() -> None:
    """A module that was moved or deleted leaves its excuse behind: remove it from TODAY."""
    gone = sorted(name for name in TODAY if not (LIBRARY / name).is_file())
    assert gone == []
