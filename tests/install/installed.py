"""The package as a user gets it: the wheel and sdist `python -m build` makes, the wheel installed into a
clean virtualenv with no extras, and its `pipeline-steps` run by path in a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

#: Until the sandbox leaves the library for its own distribution, cli.py imports it for every command and
#: the no-extras install cannot start (ModuleNotFoundError: cryptography): the bug these tests were written for.


@dataclass(frozen=True)
class Distributions:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Completed:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def _checked(command: list[str], **kwargs: Any) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {completed.returncode}\n{completed.stdout}\n{completed.stderr}")


def _tool_env() -> dict[str, str]:
    """Building and installing need the index settings CI has (PIP_*), never this checkout on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def build_distributions(out_dir: Path) -> Distributions:
    """`python -m build`: the sdist, then the wheel built from that sdist, as a release does."""
    _checked([sys.executable, "-m", "build", "--outdir", str(out_dir), str(REPO)], env=_tool_env(), timeout=600)
    (wheel,) = out_dir.glob("*.whl")
    (sdist,) = out_dir.glob("*.tar.gz")
    return Distributions(wheel, sdist)


@dataclass(frozen=True)
class InstalledVenv:
    """A virtualenv holding the wheel and what its metadata requires, nothing else."""

    path: Path
    #: An empty directory used as HOME: no ~/.kube/config, no credentials of the machine running the tests.
    home: Path

    @classmethod
    def create(cls, path: Path, wheel: Path, home: Path) -> InstalledVenv:
        # The interpreter running the tests may itself be a venv's: `venv` bases the new one on the installation
        # underneath, without this venv's packages (no --system-site-packages either).
        _checked([sys.executable, "-m", "venv", str(path)], env=_tool_env(), timeout=300)
        venv = cls(path, home)
        _checked([str(venv.python), "-m", "pip", "install", "--quiet", str(wheel)], env=_tool_env(), timeout=600)
        home.mkdir(parents=True, exist_ok=True)
        return venv

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.path / "bin" / "pipeline-steps"

    def clean_env(self, **extra: str) -> dict[str, str]:
        """What a CI job has: a PATH, a locale, a HOME without credentials; no PYTHONPATH, no KUBECONFIG."""
        return {
            "PATH": f"{self.path / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            **extra,
        }

    def run(self, *args: str, cwd: Path, timeout: float = 120, **env: str) -> Completed:
        """The installed `pipeline-steps`, by path, as a CI step runs it."""
        completed = subprocess.run(
            [str(self.cli), *args],
            cwd=cwd,
            env=self.clean_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Completed(completed.returncode, completed.stdout, completed.stderr)

    def python_json(self, code: str, *, cwd: Path) -> Any:
        """What the venv's own interpreter answers (as JSON on stdout) to `code`."""
        completed = subprocess.run(
            [str(self.python), "-c", code],
            cwd=cwd,
            env=self.clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout)
