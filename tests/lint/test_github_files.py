"""action.yml and the example workflows against GitHub's schemas (check-jsonschema's bundled
vendor.github-actions and vendor.github-workflows) and actionlint, which also checks each `uses: ./` step's
inputs and outputs against this repository's action.yml."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lint import REPO, require_tool

WORKFLOWS = sorted((REPO / "examples" / "github").glob("*.yml"))


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("check-jsonschema")
    command = [str(tool)] if tool.exists() else [require_tool("check-jsonschema")]
    return subprocess.run(
        [*command, "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_action_matches_the_github_actions_schema() -> None:
    completed = check_jsonschema("vendor.github-actions", REPO / "action.yml")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_example_workflows_match_the_github_workflows_schema() -> None:
    assert WORKFLOWS, "examples/github holds the example workflows"
    completed = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    data = yaml.safe_load((REPO / "action.yml").read_text())
    data["runs"]["using"] = "composite-ish"
    broken.write_text(yaml.safe_dump(data))
    assert check_jsonschema("vendor.github-actions", broken).returncode != 0


def actionlint_project(tmp_path: Path, workflow: Path, text: str | None = None) -> Path:
    """A throwaway repository with this action at its root and the workflow where GitHub reads workflows:
    actionlint checks `uses: ./` against ./action.yml only for workflows under .github/workflows."""
    project = tmp_path / "project"
    (project / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO / "action.yml", project / "action.yml")
    target = project / ".github" / "workflows" / workflow.name
    target.write_text(text if text is not None else workflow.read_text())
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return target


def actionlint(target: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("actionlint")
    shellcheck = Path(tool).with_name("shellcheck")
    flags = ["-shellcheck", str(shellcheck)] if shellcheck.exists() else []
    return subprocess.run(
        [tool, "-no-color", *flags, str(target.relative_to(target.parents[2]))],
        cwd=target.parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflows_pass_actionlint(tmp_path: Path, workflow: Path) -> None:
    completed = actionlint(actionlint_project(tmp_path, workflow))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_actionlint_checks_the_inputs_of_this_action(tmp_path: Path) -> None:
    """The run above can fail: an input action.yml does not declare is an error."""
    workflow = REPO / "examples" / "github" / "release.yml"
    text = workflow.read_text().replace(
        "          to: verify-staged\n", "          to: verify-staged\n          tu: x\n"
    )
    completed = actionlint(actionlint_project(tmp_path, workflow, text))
    assert completed.returncode != 0
    assert 'input "tu" is not defined in action' in completed.stdout


def release_workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "github" / "release.yml").read_text())
    return data


def action_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses") == "./"]


def test_release_workflow_shape() -> None:
    """stage -> confirm (an environment, whose required reviewers approve) -> release -> rollback-on-failure,
    and unlock-on-rejection beside release; one release per app at a time."""
    data = release_workflow()
    jobs = data["jobs"]
    assert list(jobs) == ["stage", "confirm", "unlock-on-rejection", "release", "rollback-on-failure"]
    assert jobs["confirm"]["needs"] == "stage" and jobs["confirm"]["environment"]
    assert set(jobs["release"]["needs"]) >= {"confirm"}
    assert jobs["rollback-on-failure"]["needs"] == ["release"]
    assert "needs-rollback" in jobs["rollback-on-failure"]["if"]
    assert "rolled_back" in jobs["release"]["outputs"]["needs-rollback"]
    assert data["concurrency"] == {"group": "release-${{ inputs.app }}", "cancel-in-progress": False}
    steps = {s.get("id"): s for job in jobs.values() for s in job["steps"] if s.get("uses") == "./"}
    assert {"stage", "switch", "verify-prod", "post-clean"} <= set(steps)
    for name, job in jobs.items():
        for step in action_steps(job):
            if name != "unlock-on-rejection":  # the lock is on the cluster: the unlock needs no state
                assert step["with"]["state-file"] == "${{ env.STATE_DIR }}/${{ inputs.app }}.json"


def test_every_job_acts_for_one_run_id() -> None:
    """The run id the stage job takes the release lock with is the one the unlock gives back: the workflow's run
    id in every job, passed explicitly. The CLI's own default (gh-<run id>-<attempt>) changes on a re-run."""
    run_ids = {step["with"].get("run-id") for job in release_workflow()["jobs"].values() for step in action_steps(job)}
    assert run_ids == {"${{ github.run_id }}"}


def job_runs(condition: str, context: dict[str, Any]) -> bool:
    """A job's `if:` evaluated over `context`, for the few operators and functions it may use: enough to test
    the condition's logic, which no linter checks."""
    token = re.compile(r"\s*('[^']*'|always\(\)|[A-Za-z_][\w.-]*|&&|\|\||==|!=|!|\(|\))")
    words: list[str] = []
    position = 0
    while position < len(condition.rstrip()):
        match = token.match(condition, position)
        assert match, f"cannot read the condition at {condition[position:]!r}"
        word = match.group(1)
        position = match.end()
        if word in ("&&", "||", "!"):
            words.append({"&&": "and", "||": "or", "!": "not"}[word])
        elif word in ("==", "!=", "(", ")") or word.startswith("'"):
            words.append(word)
        elif word == "always()":
            words.append("True")
        else:
            assert word in context, f"the condition reads {word}, which the test does not set"
            words.append(repr(context[word]))
    return bool(eval(" ".join(words), {"__builtins__": {}}))


def test_a_rejected_approval_gives_back_the_release_lock() -> None:
    """When the confirm job fails (a reviewer rejected the environment, or its step failed) or is cancelled (the
    run cancelled while it waited), unlock-on-rejection gives back the lock the stage job left held; after a
    stage that failed (its step gave the lock back) or a dry run (no lock), or an approval, it does not run."""
    jobs = release_workflow()["jobs"]
    job = jobs["unlock-on-rejection"]
    assert set(job["needs"]) == {"stage", "confirm", "release"}
    assert "environment" not in job, "the unlock must not wait for a reviewer"
    [step] = action_steps(job)
    assert step["with"]["step"] == "unlock"
    assert {"config", "kubeconfig", "run-id"} <= set(step["with"])
    assert not {"image", "approve", "dry-run"} & set(step["with"])
    results = ["success", "failure", "cancelled", "skipped"]
    for stage, confirm, dry_run in itertools.product(results, results, [False, True]):
        release = "success" if confirm == "success" else "skipped"  # tests/lint/test_github_release.py: the rest
        context = {"needs.stage.result": stage, "needs.confirm.result": confirm, "inputs.dry-run": dry_run,
                   "needs.release.result": release}  # fmt: skip
        expected = stage == "success" and confirm != "success" and not dry_run
        assert job_runs(job["if"], context) == expected, context
    # The jobs after confirm never run on a rejection, so none of them would give the lock back.
    assert "confirm" in jobs["release"]["needs"]
    skipped = {"needs.release.result": "skipped", "needs.release.outputs.needs-rollback": "", "inputs.dry-run": False}
    assert not job_runs(jobs["rollback-on-failure"]["if"], skipped)
