"""externalTrafficPolicy Local on the public Service of a blue/green app: a warning that says why and how
to fix it, or an error with `load_balancer.local_traffic_policy: refuse`. Shown by an offline plan."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline_steps.cli import main
from pipeline_steps.outcome import ExitCode
from tests.support.release import APPS

PUBLIC = "  name: web\nspec:\n  type: LoadBalancer\n"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(APPS / "bluegreen", tmp_path / "app")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PIPELINE_STEPS_CONFIG", "PIPELINE_STEPS_IMAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAMESPACE", "shop-prod")
    manifests = tmp_path / "app" / "app.yaml"
    assert PUBLIC in manifests.read_text()
    manifests.write_text(manifests.read_text().replace(PUBLIC, PUBLIC + "  externalTrafficPolicy: Local\n"))
    return tmp_path / "app"


def plan(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", "-c", "app/pipeline.yaml", "--image", "registry.local/web:v2", "--dry-run", "--output", "json"])
    out, err = capsys.readouterr()
    return code, out + err


def test_local_policy_warns_by_default(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = plan(capsys)
    assert code == ExitCode.OK, out
    assert "warning: Service web has externalTrafficPolicy: Local" in out
    assert "externalTrafficPolicy: Cluster" in out  # the fix


def test_local_policy_refused_by_the_setting(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (app / "pipeline.yaml").open("a") as config:
        config.write("load_balancer:\n  local_traffic_policy: refuse\n")
    code, out = plan(capsys)
    assert code == ExitCode.USAGE, out
    assert "externalTrafficPolicy: Local" in out and "load_balancer.local_traffic_policy" in out
