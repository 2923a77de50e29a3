"""The CLI killed with SIGKILL (a CI agent lost, an OOM kill) in the middle of a release: the same command run
again converges, does no duplicate work, and the public endpoint never lost a request or its last ready
backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.endpoints import ReadyEndpointsRecorder
from tests.support.release import Workspace
from tests.support.traffic import Load, settled_images

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
RUN_ID = "build-99"


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


def kill_when(workspace: Workspace, marker: str, *args: str, **env: str) -> str:
    """Start a release as CI does and SIGKILL it once its log shows `marker`; what it logged until then."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
    full_env.update({"KUBECONFIG": str(workspace.kubeconfig), **workspace.env, **env})
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline_steps.cli", "run", "-c", str(workspace.config), *args],
        cwd=workspace.path,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stderr:
        seen.append(line)
        if marker in line:
            process.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "".join(seen)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def release(workspace: Workspace, image: str, **env: str) -> None:
    result = workspace.run("--image", image, **env)
    assert result.code == ExitCode.OK, result


@pytest.mark.parametrize(
    ("marker", "stage"),
    [
        ("applied Deployment/web-green", "deploy"),  # after the first write, during the rollout wait
        ("now selects role=green; waiting for endpoints", "switch"),  # after the PATCH, before the wait ends
        ("==> post-clean", "post-clean"),  # during scale-down's delay
    ],
)
def test_killed_and_run_again_converges_without_losing_a_request(
    cluster: Cluster, namespace: str, workspace: Workspace, marker: str, stage: str
) -> None:
    release(workspace, V1)
    public = cluster.service_url(namespace, "web")
    env = {"PIPELINE_STEPS_RUN_ID": RUN_ID, "POST_CLEAN": "scale-down", "SCALE_DOWN_DELAY": "3s"}
    with Load(public) as load, ReadyEndpointsRecorder(cluster, namespace, "web") as endpoints:
        logged = kill_when(workspace, marker, "--image", V2, **env)
        assert f"==> {stage}" in logged
        again = workspace.run("--image", V2, **env)
    assert again.code == ExitCode.OK, again
    statuses = again.statuses()
    if stage != "deploy":
        assert statuses["deploy"] == "unchanged", again  # no duplicate work
        assert statuses["switch"] == "unchanged", again
    assert cluster.core.read_namespaced_service("web", namespace).spec.selector["role"] == "green"
    assert settled_images(public) == {V2}
    assert cluster.apps.read_namespaced_deployment("web-blue", namespace).spec.replicas == 0  # post-clean done
    assert not load.failures, load.summary()
    assert endpoints.counts and min(endpoints.counts) > 0, endpoints.counts
    lock = [item for item in cluster.coordination.list_namespaced_lease(namespace).items]
    assert lock == [], "the run that converged gives the lock back"
