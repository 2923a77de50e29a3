"""`--dry-run` without cluster credentials: render and validate, and say what was not checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.ci.github import report_outputs, summary_markdown
from pipeline_steps.cli import main
from pipeline_steps.errors import PipelineError
from pipeline_steps.kube.connection import no_cluster_credentials
from pipeline_steps.kube.offline import OfflineCluster
from pipeline_steps.outcome import ExitCode
from pipeline_steps.report import RunReport
from tests.support.release import APPS

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with both test apps, and no cluster credentials anywhere."""
    for app in ("bluegreen", "rolling"):
        shutil.copytree(APPS / app, tmp_path / app)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PIPELINE_STEPS_CONFIG", "PIPELINE_STEPS_IMAGE",
                 "PIPELINE_STEPS_STATE", "PIPELINE_STEPS_CONFIRM_MODE", "GITHUB_ACTIONS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAMESPACE", "shop-prod")
    return tmp_path


def plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main([*args, "--dry-run", "--output", "json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def test_a_blue_green_plan_renders_both_roles_and_names_what_it_could_not_check(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err = plan(capsys, "run", "-c", "bluegreen/pipeline.yaml", "--image", "registry.local/web:v2")

    assert code == ExitCode.OK, err
    assert "no cluster credentials found: planning offline" in err
    steps = {s["name"]: s for s in report["steps"]}
    assert {name: s["status"] for name, s in steps.items()} == {
        "pre-clean": "skipped",
        "prepare-image": "planned",
        "check-env": "skipped",
        "deploy": "planned",
        "verify-staged": "planned",
        "confirm": "unchanged",  # the test app's confirm.mode is auto
        "switch": "skipped",
        "verify-prod": "planned",
        "post-clean": "skipped",
    }
    deploy = steps["deploy"]
    assert "render Deployment/web-blue (role blue)" in deploy["changes"]
    assert "render Deployment/web-green (role green)" in deploy["changes"]
    assert "+        image: registry.local/web:v2" in deploy["diff"]
    assert report["namespace"] == "shop-prod" and report["dry_run"] is True
    facts = report["facts"]
    assert facts["cluster"].startswith("not contacted")
    for step in ("pre-clean", "check-env", "deploy", "switch", "post-clean", "verify-staged", "verify-prod"):
        assert step in facts["not_checked"]
    assert not (workspace / ".pipeline-steps").exists()


def test_a_rolling_plan_renders_the_app(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, err = plan(capsys, "run", "-c", "rolling/pipeline.yaml", "--image", f"registry.local/roll@{DIGEST}")

    assert code == ExitCode.OK, err
    deploy = next(s for s in report["steps"] if s["name"] == "deploy")
    assert deploy["summary"].startswith("rendered and validated")
    assert all("(role" not in change for change in deploy["changes"])
    assert report["facts"]["image_ref"] == f"registry.local/roll@{DIGEST}"


def test_one_stage_alone_plans_offline_too(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, err = plan(capsys, "step", "confirm", "-c", "bluegreen/pipeline.yaml", "--confirm-mode", "jenkins")

    assert code == ExitCode.OK, err
    [confirm] = report["steps"]
    assert confirm["status"] == "planned"
    assert "hand over to the Jenkins input step" in confirm["summary"]


def test_a_manifest_error_is_a_usage_error_naming_file_and_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = workspace / "bluegreen" / "app.yaml"
    manifest.write_text(manifest.read_text().replace("${IMAGE}", "${IMAGE_TYPO}"))

    code, _, err = plan(capsys, "run", "-c", "bluegreen/pipeline.yaml", "--image", "registry.local/web:v2")

    assert code == ExitCode.USAGE
    assert "app.yaml:18" in err and "IMAGE_TYPO" in err


def test_a_bad_image_reference_is_a_usage_error(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workspace / "bluegreen" / "pipeline.yaml"
    config.write_text(config.read_text().replace("resolve_digest: false", "resolve_digest: true"))

    code, _, err = plan(capsys, "run", "-c", "bluegreen/pipeline.yaml", "--image", "Registry.local/WEB:v2")

    assert code == ExitCode.USAGE, err


def test_without_dry_run_missing_credentials_stay_an_error(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "-c", "bluegreen/pipeline.yaml", "--image", "registry.local/web:v2"])

    _, err = capsys.readouterr()
    assert code == ExitCode.USAGE
    assert "no cluster credentials found" in err
    assert "planning offline" not in err


def test_credentials_anywhere_mean_the_cluster_is_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert no_cluster_credentials(None, {}, home)
    assert not no_cluster_credentials("explicit.yaml", {}, home)
    assert not no_cluster_credentials(None, {"KUBECONFIG": "k.yaml"}, home)
    assert not no_cluster_credentials(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, home)
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text("{}")
    assert not no_cluster_credentials(None, {}, home)


def test_the_offline_cluster_refuses_every_read() -> None:
    cluster = OfflineCluster("shop")
    with pytest.raises(PipelineError, match="offline plan cannot read Service"):
        cluster.get("v1", "Service", "web")


def test_outputs_and_summary_of_an_offline_plan() -> None:
    report = RunReport("web", "shop", "bluegreen", "run-1", dry_run=True, outcome="ok")
    report.facts = {
        "image": "registry.local/web:v2",
        "image_ref": f"registry.local/web@{DIGEST}",
        "cluster": "not contacted: no cluster credentials (offline plan)",
        "not_checked": "check-env (which role is public); switch (which role the public Service selects)",
    }
    outputs = report_outputs(report)
    assert outputs["image-digest"] == DIGEST  # taken from the resolved reference
    summary = summary_markdown(report)
    assert "#### Not checked" in summary
    assert "- check-env (which role is public)" in summary
    assert "- switch (which role the public Service selects)" in summary


def test_a_dry_run_naming_a_context_does_not_fall_back_to_offline(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["run", "-c", "bluegreen/pipeline.yaml", "--image", "registry.local/web:v2", "--dry-run", "--context", "prod"]
    )
    assert code == 2
    assert "no cluster credentials found" in capsys.readouterr().err
