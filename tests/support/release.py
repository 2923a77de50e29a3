"""Running `pipeline-steps` as a user would: a separate process, with the cluster's kubeconfig, in a
workspace of its own; the test reads its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APPS = Path(__file__).resolve().parent.parent / "e2e" / "apps"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def statuses(self) -> dict[str, str]:
        return {step["name"]: step["status"] for step in self.json()["steps"]}

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Workspace:
    """A CI workspace holding one test app's config and manifests."""

    path: Path
    kubeconfig: Path
    env: dict[str, str]

    @classmethod
    def create(cls, tmp_path: Path, app: str, kubeconfig: Path, **env: str) -> Workspace:
        path = tmp_path / "workspace"
        shutil.copytree(APPS / app, path / "deploy")
        return cls(path, kubeconfig, dict(env))

    @property
    def config(self) -> Path:
        return self.path / "deploy" / "pipeline.yaml"

    def cli(self, *args: str, **env: str) -> Result:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
        full_env.update({"KUBECONFIG": str(self.kubeconfig), **self.env, **env})
        completed = subprocess.run(
            [sys.executable, "-m", "pipeline_steps.cli", *args],
            cwd=self.path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def run(self, *args: str, **env: str) -> Result:
        return self.cli("run", "-c", str(self.config), "--output", "json", *args, **env)

    def step(self, name: str, *args: str, **env: str) -> Result:
        return self.cli("step", name, "-c", str(self.config), "--output", "json", *args, **env)
