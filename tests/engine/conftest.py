"""act, built once per machine (cached by version), and a repository per test holding the GitHub files under test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.engine.act import Act, Repository, act_binary
from tests.engine.observed import V1, selector
from tests.support.release import APPS, Workspace
from tests.support.traffic import settled_images

MakeAct = Callable[[dict[str, Path]], Act]


@pytest.fixture(scope="session")
def act() -> Path:
    try:
        return act_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def make_act(act: Path, cluster: Cluster, tmp_path: Path) -> MakeAct:
    """An act for a repository holding the given workflows (name -> file), this action and the blue/green test
    app (deploy/), with the cluster's kubeconfig as the KUBECONFIG secret."""

    def make(workflows: dict[str, Path]) -> Act:
        repository = Repository.create(tmp_path / "repository", workflows, APPS / "bluegreen")
        return Act(act, repository, tmp_path / "act", secrets={"KUBECONFIG": cluster.kubeconfig.read_text()})

    return make


@pytest.fixture
def released_v1(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[str]:
    """V1 released and public on role blue by the command line itself; yields the public URL."""
    workspace = Workspace.create(tmp_path / "first", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    assert selector(cluster, namespace)["role"] == "blue"
    url = cluster.service_url(namespace, "web")
    assert settled_images(url) == {V1}
    yield url
