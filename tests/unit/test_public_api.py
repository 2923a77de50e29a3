"""`import pipeline_steps`: the names it promises, where they come from, and that importing it stays cheap."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import pipeline_steps


@pytest.mark.parametrize("name", pipeline_steps.__all__)
def test_every_public_name_imports(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from pipeline_steps import {name}", namespace)  # the spelling users write
    assert namespace[name] is getattr(pipeline_steps, name)


@pytest.mark.parametrize("name", sorted(pipeline_steps._EXPORTS))
def test_a_public_name_is_the_object_its_module_defines(name: str) -> None:
    module = importlib.import_module(pipeline_steps._EXPORTS[name])
    assert getattr(pipeline_steps, name) is getattr(module, name)


def test_all_names_the_lazy_exports_and_the_version() -> None:
    assert sorted(pipeline_steps.__all__) == sorted(["__version__", *pipeline_steps._EXPORTS])
    assert set(pipeline_steps.__all__) <= set(dir(pipeline_steps))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'RunReprot'"):
        _ = pipeline_steps.RunReprot  # type: ignore[attr-defined]  # mypy sees the misspelling too


def test_importing_the_package_loads_none_of_its_modules() -> None:
    """The command line's --help and --version start by importing the package: it must not load the
    Kubernetes client or the steps."""
    code = (
        "import json, sys; import pipeline_steps; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pipeline_steps.', 'kubernetes', 'yaml')))))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout) == []
