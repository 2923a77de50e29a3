"""Checks of the CI integration files (action, workflow, Jenkinsfile, shared library) and where their linters live."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/test-tools.sh (installs actionlint, npm-groovy-lint and shellcheck into the tools cache)"


def tools_bin() -> Path:
    cache = os.environ.get("PIPELINE_STEPS_CACHE") or str(Path.home() / ".cache" / "pipeline-steps")
    return Path(cache) / "tools" / "bin"


def require_tool(name: str) -> str:
    """The linter's path: the tools cache first, then PATH. A missing linter fails the test; it never skips it."""
    cached = tools_bin() / name
    if cached.exists() and os.access(cached, os.X_OK):
        return str(cached)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
