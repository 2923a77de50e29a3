"""Fixtures shared by all tests: the cluster (sandbox or external) and a fresh namespace per test."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_steps.sandbox.launcher import Launcher, marked_processes, resolve_bin_dir
from tests.support.app import app_configmap
from tests.support.cluster import Cluster
from tests.support.smtp_server import Certificates, RunningServer, ServerMode, make_certificates, smtp_server

EXTERNAL_KUBECONFIG = os.environ.get("PIPELINE_STEPS_E2E_KUBECONFIG")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The sandbox, started once per session; or the cluster PIPELINE_STEPS_E2E_KUBECONFIG names."""
    if EXTERNAL_KUBECONFIG:
        kubectl = shutil.which("kubectl") or "kubectl"
        yield Cluster.connect(Path(EXTERNAL_KUBECONFIG), None, kubectl)
        return
    bin_dir = resolve_bin_dir(None, progress=lambda message: print(f"sandbox: {message}"))
    launcher = Launcher(tmp_path_factory.mktemp("sandbox"))
    launcher.up(nodes=3, bin_dir=str(bin_dir))
    try:
        yield Cluster.connect(launcher.layout.kubeconfig, launcher, str(bin_dir / "kubectl"))
    finally:
        launcher.down(quiet=True)
        leftovers = marked_processes(launcher.layout.root)
        assert not leftovers, f"sandbox down left processes behind: {leftovers}"


@pytest.fixture
def sandbox(cluster: Cluster) -> Launcher:
    """For tests of the sandbox itself: skipped on an external cluster."""
    if cluster.sandbox is None:
        pytest.skip("tests the sandbox itself; PIPELINE_STEPS_E2E_KUBECONFIG names another cluster")
    return cluster.sandbox


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    test_name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower().replace("_", "-")).removeprefix("test-")
    name = cluster.create_namespace("t-" + test_name)
    if cluster.external:
        cluster.apply(name, app_configmap())
    try:
        yield name
    finally:
        cluster.delete_namespace(name)


# -- a real SMTP server (aiosmtpd) with a test CA, for the mail tests -------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def starttls_server(certificates: Certificates) -> Iterator[RunningServer]:
    with smtp_server(ServerMode.STARTTLS, certificates) as server:
        yield server


@pytest.fixture
def tls_server(certificates: Certificates) -> Iterator[RunningServer]:
    with smtp_server(ServerMode.IMPLICIT_TLS, certificates) as server:
        yield server


@pytest.fixture
def plain_server(certificates: Certificates) -> Iterator[RunningServer]:
    with smtp_server(ServerMode.PLAIN, certificates) as server:
        yield server
