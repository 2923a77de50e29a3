"""A run's state between separate `step` invocations (CI stages). The cluster stays the source of truth:
this file only carries one run's facts from stage to stage, and a lost file is rebuilt from the cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_steps.errors import ConfigError
from pipeline_steps.facts import RunFacts

STATE_DIR = Path(".pipeline-steps")


@dataclasses.dataclass
class RunState:
    app: str
    run_id: str
    strategy: str
    #: What the steps found and did.
    facts: RunFacts = dataclasses.field(default_factory=RunFacts)
    #: The last status of each step that ran in this run.
    steps: dict[str, str] = dataclasses.field(default_factory=dict)
    started_at: str = ""
    finished: bool = False
    #: The process that last ran a step of this run (`current_owner()`): a new run in the same workspace must not
    #: take over a run that is still going (another shell), only one that is gone.
    owner: str = ""

    def to_json(self) -> str:
        data: dict[str, Any] = {**dataclasses.asdict(self), "facts": self.facts.to_dict()}
        return json.dumps(data, indent=2, sort_keys=True)


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot: with the pid, it tells a process from a later one that
    was given the same pid. Empty where /proc is not there."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def current_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def owner_is_running(owner: str) -> bool:
    """Whether the process `owner` names still runs; False for one on another host (a CI agent that is gone, as
    far as this one can tell) or one that was never recorded."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or _process_start(int(pid_text)) == started


def local_scope(cluster: str, namespace: str, app: str) -> Path:
    """Local files are keyed by cluster, namespace and app: runs of one app for two namespaces or clusters
    from one workspace never share them."""
    return Path(cluster) / namespace / app


def default_state_path(workspace: Path, scope: Path) -> Path:
    return workspace / STATE_DIR / "state" / scope.parent / f"{scope.name}.json"


def rendered_dir(workspace: Path, scope: Path, run_id: str) -> Path:
    """Where deploy writes the manifests it applied, for reports and archives (one folder per run);
    post-clean removes it."""
    return workspace / STATE_DIR / "rendered" / scope / run_id


def resolve_state_path(explicit: str | None, env: Mapping[str, str], workspace: Path, scope: Path) -> Path:
    chosen = explicit or env.get("PIPELINE_STEPS_STATE")
    return Path(chosen) if chosen else default_state_path(workspace, scope)


def load_state(path: Path) -> RunState | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"state file is unreadable: {exc}", source=str(path), hint="delete it; it is rebuilt from the cluster"
        ) from exc
    try:
        return RunState(**{**data, "facts": RunFacts.from_dict(data.get("facts") or {})})
    except TypeError as exc:
        raise ConfigError(
            "state file was written by another version", source=str(path), hint="delete it; run pre-clean"
        ) from exc


def save_state(path: Path, state: RunState) -> None:
    """Write atomically, so a stage killed mid-write never leaves half a file for the next stage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(state.to_json())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
