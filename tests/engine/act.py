"""act (github.com/nektos/act), the engine teams use to run GitHub workflows locally, running this repository's
GitHub files: the binary (built once from the Go module proxy, cached outside the repository by version), a
throwaway repository holding the files as a user's repository would, and one `act` run of a workflow in it.

Everything act reaches is on this machine: jobs run on the host (`-P ubuntu-latest=-self-hosted`, no container
engine), its artifact server listens on 127.0.0.1 only, its cache server and version check are off, remote
actions are local stand-ins (`--local-repository`, tests/engine/standins/), and any other remote action would be
fetched from 127.0.0.1:9, the discard port, and fail at once. Neither act's configuration files (`.actrc`) nor
the user's home are read: act runs with a home of its own and every option on its command line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ACT_VERSION = "0.2.89"
ACT_MODULE = "github.com/nektos/act"
STANDINS = Path(__file__).resolve().parent / "standins"
#: The remote actions the workflows use, each with its local stand-in (see the README of this folder's parent).
STANDIN_ACTIONS: dict[str, Path] = {
    "actions/checkout@v4": STANDINS / "checkout",
    "actions/upload-artifact@v4": STANDINS / "upload-artifact",
    "actions/download-artifact@v4": STANDINS / "download-artifact",
}
#: Where act would fetch an action that has no stand-in: the discard port on loopback, refused at once.
NOWHERE = "127.0.0.1:9"
INSTALL_HINT = f"act is built with `go install {ACT_MODULE}@v{ACT_VERSION}`: needs Go and the Go module proxy once"


def cache_root() -> Path:
    """Where the sandbox's build.sh keeps its binaries too: $PIPELINE_STEPS_CACHE, else <XDG cache>/pipeline-steps."""
    if os.environ.get("PIPELINE_STEPS_CACHE"):
        return Path(os.environ["PIPELINE_STEPS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipeline-steps"


def act_binary() -> Path:
    """act, built on the first call into a temporary folder beside the cache entry and renamed into place when
    complete, so an interrupted build is simply redone and a second test run reuses the binary."""
    target = cache_root() / f"act-v{ACT_VERSION}"
    binary = target / "act"
    if (target / ".complete").exists() and os.access(binary, os.X_OK):
        return binary
    if shutil.which("go") is None:
        raise RuntimeError(f"go is not installed: {INSTALL_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"act-v{ACT_VERSION}.partial.", dir=target.parent))
    try:
        env = {**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "0"}
        built = subprocess.run(
            ["go", "install", f"{ACT_MODULE}@v{ACT_VERSION}"], env=env, capture_output=True, text=True, timeout=900,
            check=False,
        )  # fmt: skip
        version = subprocess.run(
            [str(staging / "act"), "--version"], capture_output=True, text=True, timeout=60, check=False
        ) if built.returncode == 0 else None  # fmt: skip
        if version is None or version.stdout.strip() != f"act version {ACT_VERSION}":
            seen = version.stdout if version else ""
            raise RuntimeError(f"building act failed ({INSTALL_HINT}):\n{built.stdout}{built.stderr}{seen}")
        (staging / ".complete").write_text(f"{ACT_MODULE}@v{ACT_VERSION}\n")
        shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            # Another test run finished the same build first: use its binary.
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (from /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The command name in parentheses may hold spaces: the fields after its closing parenthesis are fixed.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def command_line(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@dataclass(frozen=True)
class Repository:
    """A user's repository as the workflows expect it, committed: this action at its root (`uses: ./`), the
    workflows under .github/workflows/, and the test app's config and manifests under deploy/."""

    path: Path

    @classmethod
    def create(cls, path: Path, workflows: Mapping[str, Path], app: Path) -> Repository:
        (path / ".github" / "workflows").mkdir(parents=True)
        shutil.copy(REPO / "action.yml", path / "action.yml")
        for name, source in workflows.items():
            shutil.copy(source, path / ".github" / "workflows" / name)
        shutil.copytree(app, path / "deploy")
        git = ["git", "-C", str(path), "-c", "user.name=pipeline-steps tests", "-c", "user.email=tests@invalid"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "the repository under test"], check=True)
        return cls(path)


@dataclass(frozen=True)
class ActRun:
    """One `act` run: its exit code and its log, one JSON object a line (`--json --verbose`)."""

    returncode: int
    entries: list[dict[str, Any]]
    stderr: str
    artifacts: Path  #: act's artifact store: <run id>/<name>/<name>.zip

    def artifact(self, name: str) -> dict[str, bytes]:
        """The files of the run's artifact `name`, by their path inside it; empty when the run has none."""
        found = list(self.artifacts.glob(f"*/{name}/{name}.zip"))
        if not found:
            return {}
        with zipfile.ZipFile(found[0]) as archive:
            return {member: archive.read(member) for member in archive.namelist()}

    def jobs(self) -> dict[str, str]:
        """Job id -> result (success, failure, skipped) for every job act reached."""
        return {e["jobID"]: e["jobResult"] for e in self.entries if "jobResult" in e and "jobID" in e}

    def _of(self, job: str, step: str | None) -> list[dict[str, Any]]:
        return [
            e for e in self.entries
            if e.get("jobID") == job and (step is None or (e.get("stepID") or [None])[0] == step)
        ]  # fmt: skip

    def step_result(self, job: str, step: str) -> str | None:
        """The main stage's result of the job's top-level step `step` (its id, or its index for steps without one)."""
        for entry in self._of(job, step):
            if entry.get("stepID") == [step] and entry.get("stage") == "Main" and "stepResult" in entry:
                return str(entry["stepResult"])
        return None

    def outputs(self, job: str, step: str) -> dict[str, str]:
        """What the step `step` set as its outputs (the action's outputs, mapped from its inner steps)."""
        return {
            str(e["name"]): str(e["arg"])
            for e in self._of(job, step)
            if e.get("command") == "set-output" and e.get("stepID") == [step]
        }

    def log(self, job: str, step: str | None = None) -> str:
        """What the job's (or one step's) commands printed, as the runner's log shows it."""
        return "".join(str(e["msg"]) for e in self._of(job, step) if e.get("raw_output"))

    def commands(self, job: str, command: str, step: str | None = None) -> list[str]:
        """The workflow commands (`::error::`, `::notice::`...) act read from the job's (or one step's) output."""
        return [str(e.get("raw", e["msg"])).strip() for e in self._of(job, step) if e.get("command") == command]

    def summary(self, job: str, step: str | None = None) -> str:
        """The step summaries (GITHUB_STEP_SUMMARY) the job's steps wrote."""
        return "".join(str(e["content"]) for e in self._of(job, step) if e.get("command") == "summary")

    def text(self) -> str:
        """The whole run as a reader would follow it, for failure messages."""
        lines = [f"[{e.get('jobID', '-')}] {str(e.get('msg', '')).rstrip()}" for e in self.entries
                 if e.get("level") != "debug" or "jobResult" in e]  # fmt: skip
        return f"act exited {self.returncode}\n" + "\n".join(lines) + f"\n--- stderr\n{self.stderr[-4000:]}"


OnEntry = Callable[[dict[str, Any], int], None]  #: called with each log entry as it comes, and act's pid


@dataclass
class Act:
    """Runs act on workflows of one repository, with the cluster's kubeconfig as the KUBECONFIG secret."""

    binary: Path
    repository: Repository
    work: Path  #: act's home, action cache, artifact store and event file live here
    secrets: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        workflow: str,
        *,
        inputs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        job: str | None = None,
        runner_env: Mapping[str, str] | None = None,
        on_entry: OnEntry | None = None,
        timeout: float = 480,
    ) -> ActRun:
        """`act workflow_dispatch` of .github/workflows/<workflow>, as a dispatch with `inputs` starts it.

        `env` is the run's environment (`--env`, as a runner's); `variables` the repository variables (`vars`);
        `runner_env` extra variables of the host the jobs run on."""
        self.work.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix="home.", dir=self.work))
        artifacts = Path(tempfile.mkdtemp(prefix="artifacts.", dir=self.work))
        event = home / "event.json"
        # GitHub delivers a dispatch's inputs as strings in the event; act reads them from there.
        event.write_text(json.dumps({"inputs": dict(inputs or {})}))
        secrets_file = home / "secrets.yml"
        secrets_file.write_text(yaml.safe_dump({"GITHUB_TOKEN": "act-offline-token-unused", **self.secrets}))
        secrets_file.chmod(0o600)
        absent = home / "none"  # act reads .env, .vars, .input and .secrets from its folder unless told otherwise
        command = [
            str(self.binary), "workflow_dispatch",
            "--workflows", f".github/workflows/{workflow}",
            "--platform", "ubuntu-latest=-self-hosted",
            "--no-skip-checkout",
            *[arg for name, path in STANDIN_ACTIONS.items() for arg in ("--local-repository", f"{name}={path}")],
            "--github-instance", NOWHERE,
            "--action-offline-mode", "--pull=false",
            "--action-cache-path", str(home / "actions"),
            "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(free_port()),
            "--artifact-server-path", str(artifacts),
            "--no-cache-server", "--cache-server-addr", "127.0.0.1",
            "--eventpath", str(event),
            "--secret-file", str(secrets_file), "--env-file", str(absent), "--var-file", str(absent),
            "--input-file", str(absent),
            "--json", "--verbose",
        ]  # fmt: skip
        for name, value in (env or {}).items():
            command += ["--env", f"{name}={value}"]
        for name, value in (variables or {}).items():
            command += ["--var", f"{name}={value}"]
        if job:
            command += ["--job", job]
        process_env = {
            # The command line under test is this virtualenv's, on PATH for `install: skip`.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
            "LANG": "C.UTF-8",
            "ACT_DISABLE_VERSION_CHECK": "1",  # act asks api.nektosact.com for notices otherwise
            "STANDIN_CHECKOUT_SOURCE": str(self.repository.path),
            **(runner_env or {}),
        }
        stderr_file = home / "act.stderr"
        entries: list[dict[str, Any]] = []
        with stderr_file.open("w") as stderr:
            process = subprocess.Popen(
                command, cwd=self.repository.path, env=process_env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=stderr, text=True,
            )  # fmt: skip
            assert process.stdout is not None
            # A run that outlasts its bound is stopped, which ends the reading below.
            watchdog = threading.Timer(timeout, process.kill)
            watchdog.start()
            try:
                for line in process.stdout:
                    entry = _entry(line)
                    entries.append(entry)
                    if on_entry is not None:
                        on_entry(entry, process.pid)
                process.wait()
            finally:
                watchdog.cancel()
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return ActRun(process.returncode, entries, stderr_file.read_text(), artifacts)


def _entry(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except ValueError:
        return {"msg": line, "level": "info"}
    return parsed if isinstance(parsed, dict) else {"msg": line, "level": "info"}
