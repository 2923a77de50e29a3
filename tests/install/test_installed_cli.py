"""The installed `pipeline-steps` (the wheel, no extras, a clean environment): what a new user runs first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import pipeline_steps
from pipeline_steps.step_names import STEP_NAMES
from tests.install.installed import EXAMPLES, InstalledVenv

#: Every example a user can release: a directory of examples/ with a pipeline.yaml.
EXAMPLE_NAMES = sorted(path.parent.name for path in EXAMPLES.glob("*/pipeline.yaml"))
#: Variables the examples' manifests need besides the image (model-serving: which model to load).
EXAMPLE_SETS = ("--set", "MODEL_PATH=gs://models/resnet/7")


def _subcommands(help_text: str) -> list[str]:
    """The verbs a `--help` offers: argparse shows subcommands in the usage as `{a,b,c} ...`, unlike a
    positional with choices (`step NAME`), which has no `...` after it."""
    usage = " ".join(help_text.split("\n\n", 1)[0].split())
    found = re.search(r"\{([^{}]+)\} \.\.\.", usage)
    return found.group(1).split(",") if found else []


def test_subcommands_are_read_from_argparse_usage() -> None:
    usage = "usage: pipeline-steps [-h] [--version]\n        {run,step,jenkins} ...\n\nZero-downtime"
    assert _subcommands(usage) == ["run", "step", "jenkins"]
    assert _subcommands("usage: pipeline-steps step [-h] [-c CONFIG] {pre-clean,deploy}\n\npositional") == []


def test_version_is_the_package_version(installed: InstalledVenv, workdir: Path) -> None:
    result = installed.run("--version", cwd=workdir)
    assert result.code == 0, result
    assert result.stdout == f"pipeline-steps {pipeline_steps.__version__}\n"
    # The version the installed metadata declares is the same one: it is written in one place.
    metadata = installed.python_json(
        "import importlib.metadata, json; print(json.dumps(importlib.metadata.version('pipeline-steps')))", cwd=workdir
    )
    assert metadata == pipeline_steps.__version__


def test_help_names_the_release_verbs(installed: InstalledVenv, workdir: Path) -> None:
    result = installed.run("--help", cwd=workdir)
    assert result.code == 0, result
    assert result.stdout.startswith("usage: pipeline-steps"), result
    assert {"run", "step", "status", "rollback"} <= set(_subcommands(result.stdout)), result
    assert result.stderr == ""


def test_every_verb_has_help(installed: InstalledVenv, workdir: Path) -> None:
    """Each verb (and each verb of a verb, e.g. `jenkins trigger`) the installed command offers, read from
    its own --help, so a new verb is covered without touching this test."""
    top = installed.run("--help", cwd=workdir)
    assert top.code == 0, top
    pending = [[verb] for verb in _subcommands(top.stdout)]
    assert pending, top
    checked, failures = [], []
    while pending:
        verbs = pending.pop(0)
        result = installed.run(*verbs, "--help", cwd=workdir)
        checked.append(" ".join(verbs))
        if (
            result.code != 0
            or not result.stdout.startswith(f"usage: pipeline-steps {' '.join(verbs)}")
            or result.stderr
        ):
            failures.append(f"pipeline-steps {' '.join(verbs)} --help: {result}")
            continue
        pending.extend([*verbs, sub] for sub in _subcommands(result.stdout))
    assert not failures, "\n\n".join(failures)
    assert {"run", "step"} <= set(checked)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_offline_dry_run_of_each_example(installed: InstalledVenv, workdir: Path, example: str) -> None:
    """No KUBECONFIG and an empty HOME: no credentials, so `--dry-run` renders and validates offline, says
    what it could not check, and writes nothing."""
    shutil.copytree(EXAMPLES / example, workdir / "deploy")
    before = sorted(p.relative_to(workdir.parent) for p in workdir.parent.rglob("*"))

    result = installed.run(
        "run", "-c", "deploy/pipeline.yaml", "--dry-run", "--output", "json",
        "--image", "registry.example.com/team/app:1.0", *EXAMPLE_SETS,
        cwd=workdir,
    )  # fmt: skip

    assert result.code == 0, result
    report = result.json()
    assert report["dry_run"] is True
    statuses = {step["name"]: step["status"] for step in report["steps"]}
    assert list(statuses) == list(STEP_NAMES), result
    assert statuses["deploy"] == "planned", result
    assert "failed" not in statuses.values(), result
    # Offline, the steps that read the cluster say they were not checked.
    assert statuses["check-env"] == "skipped", result
    assert sorted(p.relative_to(workdir.parent) for p in workdir.parent.rglob("*")) == before
    assert list(installed.home.iterdir()) == []
