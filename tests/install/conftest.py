"""Fixtures of the install layer: the distributions built once per test run, and one venv holding the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.install.installed import Distributions, InstalledVenv, build_distributions


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    return build_distributions(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed(distributions: Distributions, tmp_path_factory: pytest.TempPathFactory) -> InstalledVenv:
    """The wheel alone (no extras) in a clean venv; pip fetches its dependencies from the index."""
    root = tmp_path_factory.mktemp("installed")
    return InstalledVenv.create(root / "venv", distributions.wheel, home=root / "home")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The directory the CLI runs in: a fresh one, never the checkout (whose pipeline_steps/ would shadow the
    installed package)."""
    path = tmp_path / "work"
    path.mkdir()
    return path
