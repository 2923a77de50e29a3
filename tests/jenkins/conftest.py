"""The harness JVM, started once per test session for every test under tests/jenkins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jenkins.harness import Jenkins


@pytest.fixture(scope="session")
def jenkins() -> Iterator[Jenkins]:
    harness = Jenkins.start()
    try:
        yield harness
    finally:
        harness.close()
