"""The state file between CI stages: round trip, atomic writes, and a lost, corrupt or foreign file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_steps.errors import ConfigError
from pipeline_steps.facts import RunFacts
from pipeline_steps.state import (
    RunState,
    current_owner,
    default_state_path,
    load_state,
    local_scope,
    owner_is_running,
    rendered_dir,
    resolve_state_path,
    save_state,
)


def a_state() -> RunState:
    return RunState(
        app="web",
        run_id="jenkins-web-42",
        strategy="bluegreen",
        facts=RunFacts(active_role="blue", target_role="green", switched=False, switch_seconds=1.5),
        steps={"deploy": "succeeded", "confirm": "awaiting-approval"},
        started_at="2024-05-01T10:00:00Z",
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, a_state())
    assert load_state(path) == a_state()


def test_the_file_is_sorted_indented_json(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, RunState(app="web", run_id="r1", strategy="rolling"))
    text = path.read_text()
    assert json.loads(text) == {
        "app": "web", "run_id": "r1", "strategy": "rolling", "facts": {}, "steps": {}, "started_at": "",
        "finished": False, "owner": "",
    }  # fmt: skip
    assert text.startswith('{\n  "app": "web",\n  "facts": {},')


def test_save_creates_the_directories_and_replaces_the_old_file(tmp_path: Path) -> None:
    path = default_state_path(tmp_path, local_scope("127.0.0.1_6443", "shop", "web"))
    save_state(path, RunState(app="web", run_id="r1", strategy="bluegreen"))
    save_state(path, a_state())
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.run_id == "jenkins-web-42"
    assert sorted(p.name for p in path.parent.iterdir()) == ["web.json"]  # no temporary files left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    save_state(path, RunState(app="web", run_id="old", strategy="bluegreen"))

    def broken_replace(_src: str, _dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left on device"):
        save_state(path, a_state())
    monkeypatch.undo()
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.run_id == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_lost_file_is_no_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "nope" / "web.json") is None


@pytest.mark.parametrize("text", ["", "{", '{"app": "web",', "not json at all"])
def test_a_corrupt_file_names_itself_and_the_fix(tmp_path: Path, text: str) -> None:
    path = tmp_path / "web.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_state(path)
    assert caught.value.source == str(path)
    assert caught.value.message.startswith(f"{path}: state file is unreadable: ")
    assert caught.value.hint == "delete it; it is rebuilt from the cluster"
    assert isinstance(caught.value.__cause__, ValueError)


def test_an_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="state file is unreadable") as caught:
        load_state(tmp_path)  # a directory
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.parametrize(
    "data",
    [
        {"app": "web", "run_id": "r1", "strategy": "bluegreen", "written_by": "v2"},  # an unknown field
        {"app": "web"},  # missing fields
        [1, 2],
        None,
    ],
)
def test_a_file_of_another_version_says_so(tmp_path: Path, data: object) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load_state(path)
    assert str(caught.value) == f"{path}: state file was written by another version (delete it; run pre-clean)"


def test_state_path_flag_beats_environment_beats_default(tmp_path: Path) -> None:
    env = {"PIPELINE_STEPS_STATE": "/env/state.json"}
    scope = local_scope("127.0.0.1_6443", "shop", "web")
    assert resolve_state_path("/flag/state.json", env, tmp_path, scope) == Path("/flag/state.json")
    assert resolve_state_path(None, env, tmp_path, scope) == Path("/env/state.json")
    assert resolve_state_path(None, {"PIPELINE_STEPS_STATE": ""}, tmp_path, scope) == (
        tmp_path / ".pipeline-steps" / "state" / "127.0.0.1_6443" / "shop" / "web.json"
    )


def test_local_files_of_one_app_in_two_namespaces_or_clusters_never_meet(tmp_path: Path) -> None:
    scopes = [local_scope(c, ns, "web") for c in ("a.example_443", "b.example_443") for ns in ("shop", "shop-eu")]
    states = {default_state_path(tmp_path, s) for s in scopes}
    rendered = {rendered_dir(tmp_path, s, "run-1") for s in scopes}
    assert len(states) == len(rendered) == 4
    assert rendered_dir(tmp_path, scopes[0], "run-1") != rendered_dir(tmp_path, scopes[0], "run-2")


def test_rendered_dir_is_per_cluster_namespace_app_and_run() -> None:
    scope = local_scope("127.0.0.1_6443", "shop", "web")
    assert rendered_dir(Path("/ws"), scope, "r1") == Path("/ws/.pipeline-steps/rendered/127.0.0.1_6443/shop/web/r1")


# -- the process that runs a run ---------------------------------------------------------------------------------


def test_a_running_process_of_this_host_is_running_and_a_finished_one_is_not() -> None:

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        owner = f"{socket.gethostname()}:{child.pid}:{started}"
        assert owner_is_running(owner)
        # The same pid given later to another process is not the same owner.
        assert not owner_is_running(f"{socket.gethostname()}:{child.pid}:{int(started) + 1}")
    finally:
        child.kill()
        child.wait()
    assert not owner_is_running(owner)
    assert current_owner().split(":")[:2] == [socket.gethostname(), str(os.getpid())]


@pytest.mark.parametrize("owner", ["", "garbage", "another-host.invalid:1:1", ":1:"])
def test_an_owner_this_host_cannot_see_is_not_running(owner: str) -> None:
    assert not owner_is_running(owner)
