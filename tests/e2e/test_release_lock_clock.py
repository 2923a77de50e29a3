"""The release lock is judged by clocks that agree: a Lease written by a machine whose clock is off still holds."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace

V1 = "registry.local/web:v1"


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


def test_a_live_lock_written_by_a_clock_an_hour_behind_is_not_taken_over(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    # Another CI agent, whose clock is an hour behind, has just taken the lock: by that clock's renewTime the
    # lock looks expired long ago, but the API server stamped the write just now.
    behind = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    stamp = behind.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "pipeline-steps-web"},
        "spec": {
            "holderIdentity": "agent-behind",
            "leaseDurationSeconds": 600,
            "renewTime": stamp,
            "acquireTime": stamp,
        },
    }
    cluster.apply(namespace, lease)
    result = workspace.run("--image", V1)
    assert result.code != ExitCode.OK, result
    assert "run agent-behind is releasing web" in result.stderr + result.stdout, result
    assert cluster.apps.list_namespaced_deployment(namespace).items == []
    held = cluster.coordination.read_namespaced_lease("pipeline-steps-web", namespace)
    assert held.spec.holder_identity == "agent-behind"
