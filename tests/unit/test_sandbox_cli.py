"""`pipeline-steps-sandbox`: its own exit codes, and the Go build that travels with the package."""

from __future__ import annotations

import fnmatch
import hashlib
import subprocess
import tomllib
from pathlib import Path

import pytest

import pipeline_steps_sandbox
from pipeline_steps_sandbox import cli, launcher

PACKAGE = Path(pipeline_steps_sandbox.__file__).resolve().parent
DISTRIBUTION = PACKAGE.parent


def test_status_of_a_sandbox_that_never_ran_exits_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["status", "--dir", str(tmp_path), "--output", "json"])

    assert code == cli.ExitCode.NOT_RUNNING
    assert code == 10  # the documented number
    assert '"running": false' in capsys.readouterr().out


def test_down_of_a_sandbox_that_never_ran_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["down", "--dir", str(tmp_path)]) == cli.ExitCode.OK
    assert "nothing was running" in capsys.readouterr().out


def test_a_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["up", "--nodes", "three"])
    assert exited.value.code == cli.ExitCode.USAGE
    assert exited.value.code == 2  # the documented number


def test_a_failed_start_exits_1_and_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()

    code = cli.main(["up", "--dir", str(tmp_path / "sandbox"), "--bin-dir", str(empty_bin)])

    assert code == cli.ExitCode.FAILED
    assert code == 1  # the documented number
    assert f"{empty_bin / 'etcd'} is missing or not executable" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["restart", "stop", "start", "freeze", "thaw"])
def test_a_fault_verb_without_a_running_sandbox_exits_1_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    assert cli.main([verb, "kube-apiserver", "--dir", str(tmp_path)]) == cli.ExitCode.FAILED
    assert f"no sandbox runs in {tmp_path}" in capsys.readouterr().err


def test_a_fault_verb_takes_only_a_control_plane_component(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["restart", "node-agent"])
    assert exited.value.code == cli.ExitCode.USAGE
    said = capsys.readouterr().err
    assert "invalid choice" in said and all(name in said for name in launcher.CONTROL_PLANE), said


def test_control_plane_ports_are_free_and_outside_the_ephemeral_and_node_port_ranges() -> None:
    ports = launcher._free_ports(5)

    assert len(set(ports)) == 5
    ephemeral = launcher._ephemeral_ports()
    assert all(port not in ephemeral and not 30000 <= port <= 32767 for port in ports), ports


def test_the_exit_codes_are_documented_in_help() -> None:
    epilog = cli.build_parser().format_help()
    for code in cli.ExitCode:
        assert f"\n  {int(code):<3} " in epilog, code


def test_the_build_script_is_found_in_the_package() -> None:
    assert launcher.BUILD_SCRIPT == PACKAGE / "build" / "build.sh"
    assert launcher.BUILD_SCRIPT.is_file()


def test_the_wheel_ships_every_file_of_the_go_build() -> None:
    """Every file of build/ matches the package-data of the sandbox's pyproject, so an installed wheel
    can build the control plane (setuptools leaves out data files nobody listed)."""
    settings = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text())
    patterns = settings["tool"]["setuptools"]["package-data"]["pipeline_steps_sandbox"]
    build_files = [path.relative_to(PACKAGE).as_posix() for path in (PACKAGE / "build").rglob("*") if path.is_file()]

    assert {"build/build.sh", "build/versions.env", "build/kube/go.sum", "build/etcd/go.mod"} <= set(build_files)
    assert [f for f in build_files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []


def _fake_go(bin_dir: Path, version: str) -> None:
    """A `go` that tells its version and fails anything else: a build attempt shows as a failure."""
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(f'#!/bin/sh\n[ "$*" = "env GOVERSION" ] && echo {version} && exit 0\necho "go $*" >&2\nexit 1\n')
    go.chmod(0o755)


def test_a_cached_build_is_reused_by_its_key_versions_go_modules_and_go(tmp_path: Path) -> None:
    """The key, as before the build moved into the package: binaries built then are found again."""
    build = PACKAGE / "build"
    versions = dict(line.split("=", 1) for line in (build / "versions.env").read_text().splitlines() if "=" in line)
    modules = b"".join(
        (build / name).read_bytes() for name in ("kube/go.mod", "kube/go.sum", "etcd/go.mod", "etcd/go.sum")
    )
    key = hashlib.sha256(modules + b"go1.26.8\n").hexdigest()[:12]
    cached = (
        tmp_path / "cache" / "sandbox-bin" / f"k8s-v{versions['KUBE_VERSION']}-etcd-v{versions['ETCD_VERSION']}-{key}"
    )
    cached.mkdir(parents=True)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", ".complete"):
        (cached / name).write_text("")
        (cached / name).chmod(0o755)
    _fake_go(tmp_path / "go-bin", "go1.26.8")
    env = {"PATH": f"{tmp_path / 'go-bin'}:/usr/bin:/bin", "PIPELINE_STEPS_CACHE": str(tmp_path / "cache")}

    reused = subprocess.run(["bash", str(build / "build.sh")], env=env, capture_output=True, text=True, check=False)
    assert (reused.returncode, reused.stdout.strip()) == (0, str(cached)), reused.stderr

    # Another Go is another key: it builds (here the fake `go` refuses to).
    (tmp_path / "go-bin" / "go").unlink()
    (tmp_path / "go-bin").rmdir()
    _fake_go(tmp_path / "go-bin", "go1.27.0")
    rebuilt = subprocess.run(["bash", str(build / "build.sh")], env=env, capture_output=True, text=True, check=False)
    assert rebuilt.returncode != 0 and "go build" in rebuilt.stderr, rebuilt
