"""Fixtures shared by all tests.

The cluster comes from pipeline-steps-sandbox's pytest plugin (`cluster`, `namespace`, `sandbox`): the
sandbox started once per session, or the cluster PIPELINE_STEPS_E2E_KUBECONFIG names. Here the
namespace gets what this project's tests need on top.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pipeline_steps_sandbox.cluster import Cluster
from tests.support.app import app_configmap
from tests.support.smtp_server import Certificates, RunningServer, ServerMode, make_certificates, smtp_server

# Runs a test session inside a test: how the plugin is tested as a team would use it.
pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath).replace(os.sep, "/")
        if "tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
        # Parallel runs (`-n N --dist loadgroup`) keep each file on one worker, so its module fixtures are
        # made once; the install tests share one built wheel and venv, so they form one group.
        item.add_marker(pytest.mark.xdist_group("tests/install" if "tests/install/" in path else path))


@pytest.fixture
def namespace(namespace: str, cluster: Cluster) -> str:
    """The plugin's fresh namespace; on an external cluster, with the test app's code in a ConfigMap
    (on the sandbox every container runs it anyway)."""
    if cluster.external:
        cluster.apply(namespace, app_configmap())
    return namespace


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
