"""A `pipeline-steps` run followed while it runs, as a person watching its log: a test waits for a line of the
log (a step starting, a wait beginning) and then does something to the cluster, then collects the result."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.release import Result, Workspace


class LiveRun:
    """`pipeline-steps run -c CONFIG --output json ARGS` started in `workspace`, its stderr read line by line."""

    def __init__(self, workspace: Workspace, *args: str, **env: str) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
        full_env.update({"KUBECONFIG": str(workspace.kubeconfig), **workspace.env, **env})
        self._stdout_path = Path(workspace.path).parent / f"run-{id(self)}.stdout"
        self._stdout = open(self._stdout_path, "w+")  # noqa: SIM115 - closed in finish()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline_steps.cli", "run", "-c", str(workspace.config), "--output", "json", *args],
            cwd=workspace.path,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, *exc: object) -> None:
        """A test that failed half-way leaves no run behind."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._queue.put(line)
        self._queue.put(None)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def until(self, marker: str, timeout: float = 120.0) -> None:
        """Return as soon as the log shows `marker`; fail if the run ends or takes longer without it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} in the log within {timeout:.0f}s:\n{self.log}") from None
            if line is None:
                raise AssertionError(f"the run ended without {marker!r} in its log:\n{self.log}")
            self.lines.append(line)
            if marker in line:
                return

    def finish(self, timeout: float = 300.0) -> Result:
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.lines.append(line)
        self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        self._stdout.seek(0)
        stdout = self._stdout.read()
        self._stdout.close()
        return Result(self.process.returncode, stdout, self.log)
