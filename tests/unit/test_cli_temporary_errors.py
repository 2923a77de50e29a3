"""A service that cannot be reached is a temporary failure: bounded retries, a clear message, exit 6, and
nothing applied. Real sockets on loopback ports where nothing listens; no cluster is touched."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from pipeline_steps.cli import main
from pipeline_steps.outcome import ExitCode
from tests.support.release import APPS


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(APPS / "bluegreen", tmp_path / "app")
    kubeconfig = tmp_path / "kubeconfig"
    server = f"https://127.0.0.1:{closed_port()}"
    kubeconfig.write_text(
        json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        })
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("NAMESPACE", "shop")
    monkeypatch.setattr("pipeline_steps.kube.errors.RETRY_FOR_S", 1.0)
    for name in ("PIPELINE_STEPS_STATE", "PIPELINE_STEPS_RUN_ID", "GITHUB_ACTIONS", "BUILD_TAG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_an_unreachable_registry_is_temporary(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workspace / "app" / "pipeline.yaml"
    config.write_text(config.read_text().replace("resolve_digest: false", "resolve_digest: true"))
    image = f"127.0.0.1:{closed_port()}/shop/web:v1"

    code = main(["step", "prepare-image", "-c", str(config), "--image", image, "--output", "json"])

    out, err = capsys.readouterr()
    assert code == ExitCode.TEMPORARY, err
    [step] = json.loads(out)["steps"]
    assert (step["status"], step["error_kind"]) == ("failed", "temporary")
    assert "cannot reach registry 127.0.0.1" in step["summary"]


def test_an_unreachable_api_server_is_temporary_and_says_which_call(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["step", "check-env", "-c", str(workspace / "app" / "pipeline.yaml"), "--output", "json"])

    out, err = capsys.readouterr()
    assert code == ExitCode.TEMPORARY, err
    [step] = json.loads(out)["steps"]
    assert step["error_kind"] == "temporary"
    assert "cannot reach the API server" in step["summary"]
    assert "warning: the kubeconfig turns off TLS verification" in err
