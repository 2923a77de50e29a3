"""Objects both blue/green roles would share: refused with the file, kind/name and fix, unless listed under
bluegreen.shared. Shown by an offline plan, which renders both roles as deploy does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline_steps.cli import main
from pipeline_steps.outcome import ExitCode
from tests.support.release import APPS

SETTINGS = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\ndata: {greeting: hello}\n"
HPA = (
    "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n"
    "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web-${TARGET_ROLE}}\n"
    "  minReplicas: 2\n  maxReplicas: 5\n"
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(APPS / "bluegreen", tmp_path / "app")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PIPELINE_STEPS_CONFIG", "PIPELINE_STEPS_IMAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAMESPACE", "shop-prod")
    return tmp_path / "app"


def plan(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", "-c", "app/pipeline.yaml", "--image", "registry.local/web:v2", "--dry-run", "--output", "json"])
    out, err = capsys.readouterr()
    return code, out + err


def add(app: Path, text: str) -> None:
    with (app / "app.yaml").open("a") as manifests:
        manifests.write(text)


def test_a_config_map_without_the_role_in_its_name_is_refused(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add(app, SETTINGS)
    code, out = plan(capsys)
    assert code == ExitCode.USAGE, out
    assert "ConfigMap/web-settings has the same name for both roles" in out
    assert "running pods before verify" in out
    assert "app.yaml:" in out  # the file and line
    assert "${TARGET_ROLE}" in out and "shared: [ConfigMap/web-settings]" in out


def test_a_single_named_hpa_would_be_re_pointed(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add(app, HPA)
    code, out = plan(capsys)
    assert code == ExitCode.USAGE, out
    assert "HorizontalPodAutoscaler/web has the same name for both roles" in out
    assert "points it at the idle role" in out


def test_listed_as_shared_it_is_released(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add(app, SETTINGS)
    config = app / "pipeline.yaml"
    config.write_text(
        config.read_text().replace(
            "  public_service: web\n", "  public_service: web\n  shared: [ConfigMap/web-settings]\n"
        )
    )
    code, out = plan(capsys)
    assert code == ExitCode.OK, out
    report = json.loads(out[: out.rindex("}") + 1])
    assert any("ConfigMap/web-settings" in c for s in report["steps"] for c in s.get("changes") or [])


def test_a_shared_entry_must_be_kind_slash_name(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = app / "pipeline.yaml"
    config.write_text(
        config.read_text().replace("  public_service: web\n", "  public_service: web\n  shared: [web-settings]\n")
    )
    code, out = plan(capsys)
    assert code == ExitCode.USAGE, out
    assert "'web-settings' is not Kind/name" in out
