"""What the wheel and the sdist hold, and what installing the wheel brings along."""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from tests.install.installed import Distributions, InstalledVenv

#: Never installed with the library: the sandbox's certificates (cryptography), the test tools, the sandbox.
NOT_FOR_USERS = ("cryptography", "pytest", "pipeline-steps-sandbox")
SANDBOX_MODULES = ("pipeline_steps_sandbox", "pipeline_steps.sandbox")


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_venv_holds_no_test_tools_and_no_sandbox_distribution(installed: InstalledVenv, tmp_path: Path) -> None:
    names = installed.python_json(
        "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
        cwd=tmp_path,
    )
    installed_names = {_normalized(name) for name in names}
    assert "pipeline-steps" in installed_names
    assert installed_names.isdisjoint(NOT_FOR_USERS), sorted(installed_names & set(NOT_FOR_USERS))


def test_venv_cannot_import_the_sandbox(installed: InstalledVenv, tmp_path: Path) -> None:
    found = installed.python_json(
        "import importlib.util, json\n"
        f"names = {list(SANDBOX_MODULES)!r}\n"
        "print(json.dumps([n for n in names if importlib.util.find_spec(n) is not None]))",
        cwd=tmp_path,
    )
    assert found == []


def test_wheel_ships_type_information_and_license(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata_name,) = (name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(wheel.read(metadata_name).decode())
    assert "pipeline_steps/py.typed" in names
    assert "pipeline_steps/__init__.py" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)
    assert metadata["License-Expression"] == "Apache-2.0"


def test_wheel_holds_no_sandbox(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as wheel:
        sandbox = [n for n in wheel.namelist() if n.startswith(("pipeline_steps/sandbox/", "pipeline_steps_sandbox/"))]
    assert sandbox == []


def test_sdist_holds_license_readme_types_and_the_package(distributions: Distributions) -> None:
    with tarfile.open(distributions.sdist) as sdist:
        # Every member sits under one directory named after the distribution and version.
        root, *_ = sdist.getnames()[0].split("/")
        names = {name.removeprefix(f"{root}/") for name in sdist.getnames()}
    expected = {"LICENSE", "README.md", "pyproject.toml", "pipeline_steps/__init__.py", "pipeline_steps/py.typed"}
    assert expected <= names, sorted(expected - names)
    assert "pipeline_steps/cli.py" in names
    # The tests, and the sandbox (a distribution of its own), are not part of the library.
    assert not any(name.startswith(("tests/", "sandbox/")) for name in names)
