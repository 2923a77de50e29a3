"""The composite action's shell, run here as the runner runs it: each `run:` step of action.yml with bash
(`bash --noprofile --norc -eo pipefail`), the `env:` it declares (inputs and earlier steps' outputs put in
as the runner would), GITHUB_ACTIONS=true and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY in temporary files.

The real CLI runs a dry-run with no cluster credentials, which plans offline; a stand-in `pipeline-steps`
shows how every input becomes its flag and how exit codes, the kubeconfig and masks are handled.
What this cannot show: the runner's own expression evaluation, masking and artifact handling (docs/ci.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.ci.github import report_outputs
from pipeline_steps.report import RunReport
from tests.lint import REPO, require_tool
from tests.support.release import APPS
from tests.unit.test_github_outputs import parse_file_commands

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
RUN_STEPS: list[dict[str, Any]] = [step for step in ACTION["runs"]["steps"] if "run" in step]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
DIGEST = "sha256:" + "ab" * 32
CLI_BIN = Path(sys.executable).parent


@dataclasses.dataclass
class StepRun:
    id: str
    code: int
    log: str  #: stdout and stderr, as the runner shows them in one log
    outputs: dict[str, str]
    summary: str


@dataclasses.dataclass
class ActionRun:
    steps: list[StepRun]

    @property
    def code(self) -> int:
        return self.steps[-1].code

    @property
    def outputs(self) -> dict[str, str]:
        """The action's outputs, from its `outputs:` expressions over the steps' outputs."""
        by_id = {step.id: step.outputs for step in self.steps}
        return {name: evaluate(spec["value"], {}, by_id) for name, spec in ACTION["outputs"].items()}

    @property
    def log(self) -> str:
        return "".join(step.log for step in self.steps)


def evaluate(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """The expressions the action uses: `inputs.NAME` and `steps.ID.outputs.NAME`, nothing else."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if m := re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)", expression):
            assert m.group(1) in ACTION["inputs"], f"undeclared input {m.group(1)}"
            return inputs.get(m.group(1), str(ACTION["inputs"][m.group(1)].get("default", "")))
        if m := re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expression):
            return outputs.get(m.group(1), {}).get(m.group(2), "")
        raise AssertionError(f"unexpected expression {expression!r} in action.yml")

    return EXPRESSION.sub(value, text)


def run_action(workspace: Path, inputs: dict[str, str], *, path: tuple[Path, ...] = (), **env: str) -> ActionRun:
    """Run the action's steps in order, as the runner would, stopping at the first that fails."""
    home, temp = workspace.parent / "home", workspace.parent / "runner-temp"
    home.mkdir(exist_ok=True)
    temp.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "KUBE", "RUNNER_"))}
    base.update(
        PATH=os.pathsep.join([*map(str, path), base["PATH"]]),
        HOME=str(home),  # no ~/.kube/config: no cluster credentials
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(REPO),
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(temp),
    )
    base.update(env)
    done: list[StepRun] = []
    outputs: dict[str, dict[str, str]] = {}
    for index, step in enumerate(RUN_STEPS):
        assert step["shell"] == "bash"
        files = workspace.parent / f"step-{index}"
        files.mkdir(exist_ok=True)
        output_file, summary_file, script = files / "output", files / "summary", files / "script.sh"
        output_file.touch()
        summary_file.touch()
        script.write_text(step["run"])
        step_env = {name: evaluate(str(value), inputs, outputs) for name, value in (step.get("env") or {}).items()}
        cwd = workspace / evaluate(step.get("working-directory", "."), inputs, outputs)
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env={**base, **step_env, "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(summary_file)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
            check=False,
        )
        outputs[step["id"]] = dict(parse_file_commands(output_file.read_text()))
        done.append(
            StepRun(step["id"], completed.returncode, completed.stdout, outputs[step["id"]], summary_file.read_text())
        )
        if completed.returncode != 0:
            break
    return ActionRun(done)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A repository checkout holding the blue/green test app's config and manifests under deploy/."""
    path = tmp_path / "workspace"
    shutil.copytree(APPS / "bluegreen", path / "deploy")
    return path


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    """A stand-in pipeline-steps: records its arguments, the kubeconfig it was given, and exits $STUB_EXIT."""
    folder = tmp_path / "stub"
    folder.mkdir()
    (folder / "pipeline-steps").write_text(
        """#!/usr/bin/env bash
record="$STUB_RECORD"
printf '%s\\n' "$@" >"$record.args"
[[ -z "${PS_KUBECONFIG+set}" ]] || echo "PS_KUBECONFIG reached the command" >"$record.leak"
previous=""
for arg in "$@"; do
  if [[ "$previous" == --kubeconfig ]]; then
    cp "$arg" "$record.kubeconfig"; stat -c %a "$arg" >"$record.mode"; echo "$arg" >"$record.path"
  fi
  previous="$arg"
done
exit "${STUB_EXIT:-0}"
"""
    )
    (folder / "pipeline-steps").chmod(0o755)
    return folder


# --- the action's text ------------------------------------------------------------------------------------


def test_inputs_reach_the_shell_only_through_env() -> None:
    """No `${{ }}` inside a script: an input could otherwise inject shell. Every input is used."""
    used: set[str] = set()
    for step in RUN_STEPS:
        assert "${{" not in step["run"], f"step {step['id']}: an expression inside run:"
        for name, value in (step.get("env") or {}).items():
            assert EXPRESSION.fullmatch(str(value)), f"step {step['id']}: env {name} is not one expression"
            used |= set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", str(value)))
        used |= set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", str(step.get("working-directory", ""))))
    assert used == set(ACTION["inputs"])


def test_action_outputs_are_what_the_cli_writes() -> None:
    written = set(report_outputs(RunReport("app", "ns", "bluegreen", "run-1")))
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == "${{ steps.run.outputs.%s }}" % name  # noqa: UP031
        assert name in written, f"output {name} is never written by pipeline-steps"
    assert {"result", "active-role", "image-digest"} <= set(ACTION["outputs"])


def test_run_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    for step in RUN_STEPS:
        script = tmp_path / f"{step['id']}.sh"
        script.write_text("#!/usr/bin/env bash\n" + step["run"])
        completed = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True, check=False)
        assert completed.returncode == 0, f"step {step['id']}:\n{completed.stdout}"


# --- the real CLI, no cluster: a dry-run plans offline ----------------------------------------------------


def test_dry_run_without_a_cluster_renders_validates_and_reports(workspace: Path) -> None:
    image = f"registry.local/web@{DIGEST}"
    inputs = {
        "install": "skip",
        "config": "deploy/pipeline.yaml",
        "image": image,
        "dry-run": "true",
        "set": "# the namespace for this environment\nNAMESPACE=shop-prod\n",
        "run-id": "4711",
        "junit-xml": "reports/plan.xml",
        "report": "reports/plan.json",
    }
    run = run_action(workspace, inputs, path=(CLI_BIN,))

    assert run.code == 0, run.log
    assert [step.id for step in run.steps] == ["install", "run"]
    assert run.steps[0].outputs["bin"] == str(CLI_BIN)
    outputs = run.outputs
    assert outputs["result"] == "ok" and outputs["exit-code"] == "0"
    assert outputs["image"] == image
    assert outputs["image-digest"] == DIGEST
    assert outputs["run-id"] == "4711"
    assert outputs["active-role"] == ""  # only the cluster knows; an offline plan does not guess
    report = json.loads(outputs["report-json"])
    assert report["dry_run"] is True and report["namespace"] == "shop-prod"
    statuses = {step["name"]: step["status"] for step in report["steps"]}
    assert statuses["deploy"] == "planned" and statuses["check-env"] == "skipped"
    assert "check-env" in report["facts"]["not_checked"]
    assert json.loads((workspace / "reports" / "plan.json").read_text()) == report
    assert "<testsuites" in (workspace / "reports" / "plan.xml").read_text()
    assert not (workspace / ".pipeline-steps").exists()  # an offline plan is no run: no state

    summary = run.steps[1].summary
    assert "### pipeline-steps: web (bluegreen) ok" in summary
    assert "| 4711 | shop-prod | yes | 0 |" in summary
    assert "#### Not checked" in summary and "which role is public" in summary
    assert DIGEST in summary
    assert "::group::deploy" in run.log and "::endgroup::" in run.log
    assert "rendered and validated 3 objects for each role (blue, green)" in run.log


def test_a_manifest_error_is_a_usage_error_with_an_annotation(workspace: Path) -> None:
    manifest = workspace / "deploy" / "app.yaml"
    manifest.write_text(manifest.read_text().replace("${IMAGE}", "${IMAGE_TYPO}"))
    inputs = {"install": "skip", "config": "deploy/pipeline.yaml", "image": "registry.local/web:v2", "dry-run": "true"}

    run = run_action(workspace, inputs, path=(CLI_BIN,), NAMESPACE="shop")

    assert run.code == 2, run.log
    assert run.outputs["result"] == "usage" and run.outputs["exit-code"] == "2"
    assert "::error title=pipeline-steps::error: app.yaml:18: ${IMAGE_TYPO} is not set" in run.log


def test_rollback_without_a_cluster_fails_with_its_result(workspace: Path) -> None:
    run = run_action(workspace, {"install": "skip", "step": "rollback", "config": "deploy/pipeline.yaml"},
                     path=(CLI_BIN,), NAMESPACE="shop")  # fmt: skip
    assert run.code == 2
    assert run.outputs["result"] == "usage"
    assert "no cluster credentials found" in run.log


# --- the shell's own logic, with a stand-in CLI -----------------------------------------------------------


def recorded(tmp_path: Path, what: str) -> str:
    path = tmp_path / f"record.{what}"
    return path.read_text() if path.exists() else ""


def test_every_input_becomes_its_flag(workspace: Path, stub: Path, tmp_path: Path) -> None:
    inputs = {
        "install": "skip",
        "from": "deploy",
        "to": "switch",
        "config": "deploy/pipeline.yaml",
        "image": "registry/app:1.2 $(touch pwned)",
        "state-file": ".pipeline-steps/state/web.json",
        "dry-run": "true",
        "approve": "true",
        "set": "A=1\r\n  # a comment\n\nB=two words\n",
        "context": "prod",
        "run-id": "99",
        "junit-xml": "reports/r.xml",
        "report": "reports/r.json",
    }
    run = run_action(workspace, inputs, path=(stub,), STUB_RECORD=str(tmp_path / "record"))

    assert run.code == 0, run.log
    assert recorded(tmp_path, "args").splitlines() == [
        "run", "--from", "deploy", "--to", "switch", "-c", "deploy/pipeline.yaml",
        "--image", "registry/app:1.2 $(touch pwned)", "--state", ".pipeline-steps/state/web.json",
        "--context", "prod", "--run-id", "99", "--junit-xml", "reports/r.xml", "--report", "reports/r.json",
        "--dry-run", "--yes", "--set", "A=1", "--set", "B=two words",
    ]  # fmt: skip
    assert not list(workspace.rglob("pwned"))
    # The stand-in wrote no outputs: the action fills result and exit-code itself.
    assert (run.outputs["result"], run.outputs["exit-code"]) == ("ok", "0")


@pytest.mark.parametrize(
    ("step", "expected"),
    [("rollback", ["rollback"]), ("unlock", ["unlock"]), ("verify-prod", ["step", "verify-prod"]), ("all", ["run"])],
)
def test_step_selects_the_command(workspace: Path, stub: Path, tmp_path: Path, step: str, expected: list[str]) -> None:
    run = run_action(workspace, {"install": "skip", "step": step}, path=(stub,), STUB_RECORD=str(tmp_path / "record"))
    assert run.code == 0, run.log
    assert recorded(tmp_path, "args").splitlines() == expected


@pytest.mark.parametrize("step", ["rollback", "unlock"])
def test_rollback_and_unlock_take_no_image_and_no_approval(
    workspace: Path, stub: Path, tmp_path: Path, step: str
) -> None:
    """A workflow's shared `with:` may carry image and approve into a rollback job; the CLI would refuse them."""
    inputs = {"install": "skip", "step": step, "image": "registry/app:1.2", "approve": "true", "run-id": "7"}
    run = run_action(workspace, inputs, path=(stub,), STUB_RECORD=str(tmp_path / "record"))
    assert run.code == 0, run.log
    assert recorded(tmp_path, "args").splitlines() == [step, "--run-id", "7"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"step": "deplyo"}, "unknown step 'deplyo'"),
        ({"dry-run": "yes"}, "input dry-run must be true or false, not 'yes'"),
        ({"step": "deploy", "from": "check-env"}, "from and to apply to step: all"),
        ({"set": "NOT_AN_ASSIGNMENT"}, "set: 'NOT_AN_ASSIGNMENT' is not KEY=VALUE"),
    ],
)
def test_bad_inputs_stop_before_the_cli(
    workspace: Path, stub: Path, tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(workspace, {"install": "skip", **inputs}, path=(stub,), STUB_RECORD=str(tmp_path / "record"))
    assert run.code == 2
    assert f"::error title=pipeline-steps::{message}" in run.log
    assert recorded(tmp_path, "args") == ""


def test_kubeconfig_is_a_private_file_masked_and_removed(workspace: Path, stub: Path, tmp_path: Path) -> None:
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: s3cr3t-t0ken\n"
        '    client-key-data: "LS0tS0VZ"\n'
    )
    run = run_action(workspace, {"install": "skip", "kubeconfig": kubeconfig}, path=(stub,),
                     STUB_RECORD=str(tmp_path / "record"))  # fmt: skip

    assert run.code == 0, run.log
    assert recorded(tmp_path, "kubeconfig").rstrip("\n") == kubeconfig.rstrip("\n")
    assert recorded(tmp_path, "mode").strip() == "600"
    assert not Path(recorded(tmp_path, "path").strip()).exists()  # removed when the step ended
    assert Path(recorded(tmp_path, "path").strip()).parent == workspace.parent / "runner-temp"
    assert "::add-mask::s3cr3t-t0ken" in run.log and "::add-mask::LS0tS0VZ" in run.log
    assert recorded(tmp_path, "leak") == ""


@pytest.mark.parametrize(("code", "result", "action_code"), [(4, "awaiting_approval", 0), (3, "rolled_back", 3),
                                                             (5, "rejected", 5), (1, "failed", 1)])  # fmt: skip
def test_exit_codes(workspace: Path, stub: Path, tmp_path: Path, code: int, result: str, action_code: int) -> None:
    """4 (awaiting approval) hands over to the approval job: not a failure here. Others fail the step."""
    run = run_action(workspace, {"install": "skip"}, path=(stub,), STUB_RECORD=str(tmp_path / "record"),
                     STUB_EXIT=str(code))  # fmt: skip
    assert run.code == action_code
    assert (run.outputs["result"], run.outputs["exit-code"]) == (result, str(code))
    assert ("::notice title=pipeline-steps::awaiting approval" in run.log) == (code == 4)


def test_install_skip_without_the_cli_on_path_fails(workspace: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    run = run_action(workspace, {"install": "skip"}, PATH=f"{empty}:/usr/bin:/bin")
    assert [step.id for step in run.steps] == ["install"]
    assert run.code == 2
    assert "::error title=pipeline-steps install::install: skip, but pipeline-steps is not on PATH" in run.log


def test_install_refuses_an_old_python(workspace: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-python"
    old.write_text("#!/bin/sh\nexit 1\n")
    old.chmod(0o755)
    run = run_action(workspace, {"install": "action", "python": str(old)})
    assert run.code == 2
    assert "is not Python 3.11 or newer" in run.log
