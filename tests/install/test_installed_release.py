"""The installed wheel releasing on a real cluster: the classic blue/green example, and the README's Python API
example, both with nothing but the wheel and its dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.install.installed import EXAMPLES, REPO, InstalledVenv
from tests.support.traffic import fetch, settled_images

pytestmark = pytest.mark.e2e

OLD, NEW = "tomcat:9.0.98", "tomcat:9.0.99"


def _workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    shutil.copytree(EXAMPLES / "tomcat-bluegreen", path / "deploy")
    return path


def _cluster_env(cluster: Cluster, namespace: str) -> dict[str, str]:
    # Registry-less images on the sandbox: deploy by tag; no person to ask in a test.
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "NAMESPACE": namespace,
        "RESOLVE_DIGEST": "false",
        "CONFIRM_MODE": "auto",
    }


def test_blue_green_release_of_the_example_with_the_installed_cli(
    installed: InstalledVenv, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = _workspace(tmp_path)
    env = _cluster_env(cluster, namespace)

    def release(image: str) -> None:
        result = installed.run("run", "-c", "deploy/pipeline.yaml", "--image", image, cwd=workspace, timeout=600, **env)
        assert result.code == ExitCode.OK, result

    release(OLD)
    release(NEW)

    # The second release went to the idle role and the public Service now selects it.
    selector = cluster.core.read_namespaced_service("tomcat-service", namespace).spec.selector
    assert selector == {"app": "tomcat", "role": "green"}
    public = cluster.service_url(namespace, "tomcat-service")
    assert settled_images(public) == {NEW}
    answer = fetch(public)
    assert answer.status == 200
    assert (answer.role, answer.image) == ("green", NEW)


def _readme_python_example() -> str:
    """The code block of the README's "Python API" section."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README's Python API section has no python code block"
    return found.group(1)


def test_readme_python_api_example_runs_with_the_installed_wheel(
    installed: InstalledVenv, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """The README's example, run by the venv's interpreter: a dry-run through verify-staged, which changes
    nothing on the cluster. The library alone never needed the sandbox, so this passes with it still inside."""
    workspace = _workspace(tmp_path)
    completed = subprocess.run(
        [str(installed.python), "-c", _readme_python_example()],
        cwd=workspace,
        env=installed.clean_env(**_cluster_env(cluster, namespace)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == ExitCode.OK, completed.stdout + completed.stderr
    assert "deploy planned" in completed.stdout, completed.stdout
    assert cluster.apps.list_namespaced_deployment(namespace).items == []
