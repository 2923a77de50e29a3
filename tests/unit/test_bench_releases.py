"""The release benchmark's plumbing without a cluster: its options, the baselines' manifests, the PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from benchmarks import release_scenarios
from benchmarks.load_client import Request
from benchmarks.release_figures import Mark, Timeline, figures
from benchmarks.release_plot import matplotlib_missing, plot
from benchmarks.releases import main, parse_sync_period


def test_sync_periods() -> None:
    assert parse_sync_period("default") is None
    assert parse_sync_period("2s") == 2.0
    assert parse_sync_period("500ms") == 0.5
    assert parse_sync_period("1.5") == 1.5
    with pytest.raises(argparse.ArgumentTypeError, match="use `default` or a duration"):
        parse_sync_period("soon")


def test_unknown_scenarios_and_periods_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--scenarios", "1,9"])
    assert exit_info.value.code == 2
    assert "unknown scenario(s) 9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--sync-periods", "default,soon"])
    assert "sync period 'soon'" in capsys.readouterr().err


def test_the_seven_scenarios_in_order() -> None:
    chosen = release_scenarios.scenarios()
    assert [s.key for s in chosen] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert [s.service for s in chosen] == ["web", "web", "roll", "web", "web", "web", "web", "web"]


def _container(deployment: dict[str, object]) -> dict[str, object]:
    spec = deployment["spec"]
    assert isinstance(spec, dict)
    container: dict[str, object] = spec["template"]["spec"]["containers"][0]
    return container


def test_the_baselines_are_the_walk_throughs_manifests() -> None:
    recreate = release_scenarios._web("web:2", readiness=True, strategy="Recreate")
    assert recreate["spec"]["strategy"] == {"type": "Recreate"}
    bare = release_scenarios._web("web:2", readiness=False)
    assert bare["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert "readinessProbe" not in _container(bare)
    probed = release_scenarios._web("web:2", readiness=True)
    assert "readinessProbe" in _container(probed)
    green = release_scenarios._role("green", "web:2")
    assert green["spec"]["selector"] == {"matchLabels": {"app": "web", "role": "green"}}
    for deployment in (recreate, bare, probed, green):
        assert "lifecycle" not in _container(deployment)  # no preStop
        assert deployment["spec"]["replicas"] == release_scenarios.REPLICAS


def test_every_scenario_runs_the_same_number_of_replicas(tmp_path: Path) -> None:
    env = release_scenarios.Env(tmp_path / "kubeconfig", "kubectl", "ns", tmp_path)
    workspace = release_scenarios._workspace(env, "bluegreen", {"SANDBOX_KEEPALIVE_ON_SIGTERM": "abrupt"})
    text = (workspace.path / "deploy" / "app.yaml").read_text()
    assert f"  replicas: {release_scenarios.REPLICAS}\n" in text
    [container] = yaml.safe_load_all(text.replace("${", "$[")).__next__()["spec"]["template"]["spec"]["containers"]
    assert {"name": "SANDBOX_KEEPALIVE_ON_SIGTERM", "value": "abrupt"} in container["env"]


@pytest.mark.skipif(matplotlib_missing(), reason="matplotlib is not installed (pip install -e '.[bench]')")
def test_the_png_timeline_is_written(tmp_path: Path) -> None:
    requests = [Request(i / 100, 0.001, i % 2 == 0, i, False, status=200, image="v1") for i in range(100)]
    requests += [Request(1 + i / 100, 0.001, False, 0, False, error="refused") for i in range(20)]
    requests += [Request(1.2 + i / 100, 0.001, False, i, False, status=200, image="v2") for i in range(100)]
    timeline = Timeline("t", requests, [Mark(0.5, "switch")], 0.0, 2.2, 0.4, 1.5, "v1", "v2", switch_at=0.5)
    path = plot(timeline, figures(timeline), tmp_path / "out" / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
