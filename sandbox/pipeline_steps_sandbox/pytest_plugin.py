"""pytest plugin: one cluster per test run and a fresh namespace per test, as pytest-kind does for kind.

pytest loads it by itself wherever pipeline-steps-sandbox is installed (entry point `pytest11`):

- `cluster` (session): a `Cluster` handle on a sandbox started once for the whole run, in pytest's
  temporary directory, and stopped at its end; or, when PIPELINE_STEPS_E2E_KUBECONFIG names a
  kubeconfig, on that cluster instead (nothing is started then).
- `namespace`: the name of a namespace made for this test (with its default ServiceAccount), deleted after it.
- `sandbox`: the sandbox's `Launcher`, for tests of the sandbox itself; skipped on another cluster.

The sandbox's size comes from the ini option `sandbox_nodes` (default 3); its binaries from
PIPELINE_STEPS_SANDBOX_BIN, else the package's build (Go, cached after the first run).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pipeline_steps_sandbox.cluster import Cluster
    from pipeline_steps_sandbox.launcher import Launcher

EXTERNAL_KUBECONFIG_ENV = "PIPELINE_STEPS_E2E_KUBECONFIG"
DATA_PLANE_ENV = "PIPELINE_STEPS_SANDBOX_DATA_PLANE"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("sandbox_nodes", "Nodes of the sandbox the `cluster` fixture starts (default 3)", default="3")


def _progress(message: str) -> None:
    print(f"sandbox: {message}", file=sys.stderr, flush=True)


# The sandbox's modules load only when a test asks for a cluster, so a run of unit tests pays nothing
# for the plugin being installed.


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The sandbox, started once per test run; or the cluster PIPELINE_STEPS_E2E_KUBECONFIG names.

    Under pytest-xdist (`-n N`) the workers share one sandbox: the first to need it starts it, each one
    registers as a user, and the last to finish stops it."""
    from pipeline_steps_sandbox.cluster import Cluster  # noqa: PLC0415
    from pipeline_steps_sandbox.launcher import resolve_bin_dir  # noqa: PLC0415

    external = os.environ.get(EXTERNAL_KUBECONFIG_ENV)
    if external:
        yield Cluster.connect(Path(external), None, shutil.which("kubectl") or "kubectl")
        return
    bin_dir = resolve_bin_dir(None, progress=_progress)
    nodes = int(str(request.config.getini("sandbox_nodes")))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every worker's base temp sits in one directory of the run: the shared sandbox lives beside them.
        shared = tmp_path_factory.getbasetemp().parent / "shared-sandbox"
        with _SharedSandbox(shared, nodes, bin_dir) as launcher:
            yield Cluster.connect(launcher.layout.kubeconfig, launcher, str(bin_dir / "kubectl"))
        return
    with _OwnSandbox(tmp_path_factory.mktemp("sandbox"), nodes, bin_dir) as launcher:
        yield Cluster.connect(launcher.layout.kubeconfig, launcher, str(bin_dir / "kubectl"))


def _data_plane() -> str:
    """PIPELINE_STEPS_SANDBOX_DATA_PLANE (`kube-proxy`, `python`), else `auto`: kube-proxy wherever it can run."""
    return os.environ.get(DATA_PLANE_ENV, "auto")


class _OwnSandbox:
    """A sandbox this process starts and stops."""

    def __init__(self, root: Path, nodes: int, bin_dir: Path) -> None:
        from pipeline_steps_sandbox.launcher import Launcher  # noqa: PLC0415

        self.launcher = Launcher(root)
        self.nodes, self.bin_dir = nodes, bin_dir

    def __enter__(self) -> Launcher:
        self.launcher.up(nodes=self.nodes, bin_dir=str(self.bin_dir), data_plane=_data_plane())
        return self.launcher

    def __exit__(self, *_: object) -> None:
        from pipeline_steps_sandbox.launcher import marked_processes  # noqa: PLC0415

        self.launcher.down(quiet=True)
        leftovers = marked_processes(self.launcher.layout.root)
        assert not leftovers, f"sandbox down left processes behind: {leftovers}"


class _SharedSandbox(_OwnSandbox):
    """One sandbox for all xdist workers: a lock file guards starting it, a users file counts who needs it."""

    def __init__(self, root: Path, nodes: int, bin_dir: Path) -> None:
        from filelock import FileLock  # noqa: PLC0415

        root.mkdir(parents=True, exist_ok=True)
        super().__init__(root / "sandbox", nodes, bin_dir)
        self.lock = FileLock(str(root / "lock"))
        self.users = root / "users"

    def _count(self, change: int) -> int:
        count = (int(self.users.read_text() or 0) if self.users.exists() else 0) + change
        self.users.write_text(str(count))
        return count

    def __enter__(self) -> Launcher:
        with self.lock:
            if not self.launcher.status().get("running"):
                self.launcher.up(nodes=self.nodes, bin_dir=str(self.bin_dir), data_plane=_data_plane())
            self._count(+1)
        return self.launcher

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            if self._count(-1) == 0:
                super().__exit__(*exc)


@pytest.fixture
def sandbox(cluster: Cluster) -> Launcher:
    """For tests of the sandbox itself: skipped on an external cluster."""
    if cluster.sandbox is None:
        pytest.skip(f"tests the sandbox itself; {EXTERNAL_KUBECONFIG_ENV} names another cluster")
    return cluster.sandbox


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    test_name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower().replace("_", "-")).removeprefix("test-")
    name = cluster.create_namespace("t-" + test_name)
    try:
        yield name
    finally:
        cluster.delete_namespace(name)
