"""act itself: built once per machine into the cache folder named by its version and reused after that (an
interrupted build is redone), checked with a stand-in `go` that records its calls and on the real binary; and run
so that it reaches nothing beyond loopback."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.engine.act import ACT_MODULE, ACT_VERSION, NOWHERE, Act, Repository, act_binary
from tests.support.release import APPS

FAKE_GO = f"""#!/bin/sh
# Stand-in for `go install {ACT_MODULE}@v{ACT_VERSION}`: records the call, writes an act that tells its version.
echo "$*" >>"$GO_CALLS"
printf '#!/bin/sh\\necho "act version {ACT_VERSION}"\\n' >"$GOBIN/act"
chmod +x "$GOBIN/act"
"""


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "go-calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GO_CALLS", str(calls))
    monkeypatch.setenv("PIPELINE_STEPS_CACHE", str(tmp_path / "cache"))
    return calls


def test_a_fresh_machine_builds_act_and_a_second_run_reuses_it(fake_go: Path, tmp_path: Path) -> None:
    binary = act_binary()
    assert binary == tmp_path / "cache" / f"act-v{ACT_VERSION}" / "act"
    assert fake_go.read_text().splitlines() == [f"install {ACT_MODULE}@v{ACT_VERSION}"]
    assert act_binary() == binary
    assert len(fake_go.read_text().splitlines()) == 1  # not built again
    assert sorted(p.name for p in binary.parent.parent.iterdir()) == [f"act-v{ACT_VERSION}"]  # no partial left


def test_an_interrupted_build_is_redone(fake_go: Path, tmp_path: Path) -> None:
    leftover = tmp_path / "cache" / f"act-v{ACT_VERSION}"
    leftover.mkdir(parents=True)
    (leftover / "act").write_text("half a binary")
    binary = act_binary()
    assert len(fake_go.read_text().splitlines()) == 1
    assert subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.strip() == (
        f"act version {ACT_VERSION}"
    )


def test_the_cached_act_is_the_pinned_version(act: Path) -> None:
    """The binary the engine tests run (built by their set-up, or found in the cache)."""
    assert act.parent.name == f"act-v{ACT_VERSION}"
    version = subprocess.run([act, "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.strip() == f"act version {ACT_VERSION}"


def test_an_action_without_a_stand_in_is_never_fetched_from_the_internet(act: Path, tmp_path: Path) -> None:
    """act would clone it from the GitHub instance, which the tests point at the discard port on loopback: the
    job fails at once, and the artifact server listens on loopback only."""
    workflow = tmp_path / "setup-python.yml"
    workflow.write_text(
        "on: workflow_dispatch\n"
        "jobs:\n"
        "  python:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/setup-python@v5\n"
    )
    repository = Repository.create(tmp_path / "repository", {"setup-python.yml": workflow}, APPS / "bluegreen")
    run = Act(act, repository, tmp_path / "act").run("setup-python.yml", timeout=60)
    assert run.returncode != 0 and run.jobs() == {"python": "failure"}, run.text()
    assert f"https://{NOWHERE}/actions/setup-python" in run.stderr
    assert f"dial tcp {NOWHERE}: connect: connection refused" in run.stderr
    assert "Start server on http://127.0.0.1:" in run.stderr
