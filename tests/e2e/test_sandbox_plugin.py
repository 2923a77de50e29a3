"""The sandbox's pytest plugin as a team uses it: the example test of docs/sandbox.md, run by pytest in a
project of its own (a copy of examples/tomcat-bluegreen in `deploy/`), on this session's cluster."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from pipeline_steps_sandbox.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TEST = "tests/test_release.py"


def _team_test_from_the_docs() -> str:
    section = (REPO / "docs" / "sandbox.md").read_text().split("## The pytest plugin", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _namespaces_of(cluster: Cluster, prefix: str) -> dict[str, bool]:
    """Namespaces whose name starts with `prefix`, each with whether it is being deleted."""
    return {
        ns.metadata.name: ns.metadata.deletion_timestamp is not None
        for ns in cluster.core.list_namespace(label_selector="pipeline-steps.dev/test=true").items
        if ns.metadata.name.startswith(prefix)
    }


# The example asserts on what the sandbox's pods answer; on another cluster they run the real images.
@pytest.mark.usefixtures("sandbox")
def test_the_documented_team_test_passes_with_the_plugins_fixtures(
    pytester: pytest.Pytester, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / "examples" / "tomcat-bluegreen", pytester.path / "deploy")
    (pytester.path / "tests").mkdir()
    (pytester.path / EXAMPLE_TEST).write_text(_team_test_from_the_docs())
    # The inner run uses this session's cluster instead of starting a second sandbox, and finds
    # `pipeline-steps` where this interpreter's environment has it, as a team's CI would on PATH.
    monkeypatch.setenv("PIPELINE_STEPS_E2E_KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    result = pytester.runpytest_subprocess(EXAMPLE_TEST, "-p", "no:cacheprovider", "-v", timeout=600)

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)
    # The plugin's namespace fixture deleted the test's namespace afterwards (it may still be terminating).
    left = _namespaces_of(cluster, "t-second-release-goes-public-")
    assert [name for name, deleting in left.items() if not deleting] == [], left


def test_the_plugin_is_what_gives_this_project_its_fixtures(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("pipeline-steps-sandbox")
    assert plugin is not None, "pytest did not load the sandbox's plugin from its entry point"
    assert plugin.__name__ == "pipeline_steps_sandbox.pytest_plugin"
