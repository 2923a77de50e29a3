"""The shared library (library path `jenkins/`) beyond the pipeline it gives (tests/jenkins/test_jenkinsfile.py runs
that): every var documented, pipelineStep's steps and its shell script, taken from the library as Jenkins runs it
and run by the shells Jenkins' `sh` uses, with a stand-in pipeline-steps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_steps.cli import build_parser
from pipeline_steps.step_names import STEP_NAMES
from tests.jenkins.harness import REPO, Jenkins
from tests.jenkins.scenario import EXAMPLE, Setup, build, run
from tests.lint import require_tool

VARS = REPO / "jenkins" / "vars"


def library_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "Jenkinsfile"
    script.write_text(f"@Library('pipeline-steps') _\n{body}\n")
    return script


@pytest.fixture(scope="module")
def step_script(jenkins: Jenkins, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shell script pipelineStep hands to `sh`, as the library hands it (the same text for every step)."""
    root = tmp_path_factory.mktemp("step-script")
    setup = Setup.create(root)
    script = library_script(root, "node('pipeline-steps') { pipelineStep(step: 'check-env') }")
    [done] = run(jenkins, setup, build(script))
    [record] = done["sh"]
    text: str = record["script"]
    return text


def test_a_step_without_flags_runs_the_command(jenkins: Jenkins, tmp_path: Path) -> None:
    """pipelineStep passes its flags in PS_FLAGS through withEnv; with no flags the value is empty, which Jenkins
    turns into no variable at all. The step must run the command line all the same."""
    setup = Setup.create(tmp_path)
    script = library_script(tmp_path, "node('pipeline-steps') { pipelineStep(step: 'check-env') }")
    [done] = run(jenkins, setup, build(script))
    [record] = done["sh"]
    assert "PS_FLAGS" not in record["env"] and "PS_CONFIG" not in record["env"]
    assert done["result"] == "SUCCESS", record["stderr"]
    assert [call["argv"][:2] for call in done["cli"]] == [["step", "check-env"]]


def test_every_library_var_is_documented() -> None:
    names = sorted(p.stem for p in VARS.glob("*.groovy"))
    assert names == ["blueGreenRelease", "pipelineStep", "releaseApproval"]
    for name in names:
        assert f"<b>{name}(" in (VARS / f"{name}.txt").read_text(), f"{name}.txt should start with the step's call"
    assert sorted(p.stem for p in VARS.glob("*.txt")) == names


def test_pipeline_step_accepts_exactly_the_cli_steps_rollback_and_unlock(jenkins: Jenkins, tmp_path: Path) -> None:
    setup = Setup.create(tmp_path)
    script = library_script(tmp_path, "node('pipeline-steps') { pipelineStep(step: 'launch') }")
    [done] = run(jenkins, setup, build(script))
    assert done["result"] == "FAILURE"
    match = re.search(r"step must be one of (.*); got 'launch'", done["error"])
    assert match, done["error"]
    assert match.group(1).split(", ") == [*STEP_NAMES, "rollback", "unlock"]
    assert done["cli"] == []


def test_no_release_logic_in_groovy(step_script: str) -> None:
    """Only pipelineStep runs a shell, and its script only runs pipeline-steps."""
    for path in VARS.glob("*.groovy"):
        text = path.read_text()
        assert bool(re.search(r"(?<![\w.])sh[ (]", text)) == (path.stem == "pipelineStep"), f"{path.name} runs a shell"
        for word in ("kubectl", "helm", "curl", "wget"):
            assert word not in text, f"{path.name} mentions {word}"
    assert step_script.strip().splitlines()[-1] == 'pipeline-steps "$@"'


def test_a_team_jenkinsfile_is_a_dozen_lines(jenkins: Jenkins, tmp_path: Path) -> None:
    code = [line for line in EXAMPLE.read_text().splitlines() if line.strip() and not line.strip().startswith("//")]
    assert len(code) <= 12, code
    setup = Setup.create(tmp_path)
    [done] = run(jenkins, setup, build(EXAMPLE))
    assert [name.split("@")[0] for name in done["libraries"]] == ["pipeline-steps"]
    assert done["result"] == "SUCCESS", done["log"]


def test_a_jenkinsfile_without_the_library_has_none_of_its_vars(jenkins: Jenkins, tmp_path: Path) -> None:
    """The harness loads vars only for `@Library`, as Jenkins does: the check above can fail."""
    setup = Setup.create(tmp_path)
    script = tmp_path / "Jenkinsfile"
    script.write_text(EXAMPLE.read_text().replace("@Library('pipeline-steps@v0.1.0') _", ""))
    [done] = run(jenkins, setup, build(script))
    assert done["result"] == "FAILURE"
    assert "blueGreenRelease" in done["error"]


# --- pipelineStep's shell, run by the shells Jenkins' `sh` uses -------------------------------------------


def fake_cli(tmp_path: Path) -> Path:
    """A stand-in `pipeline-steps` that records its arguments one a line and exits with $FAKE_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pipeline-steps"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$FAKE_ARGS"\nexit "${FAKE_EXIT:-0}"\n')
    fake.chmod(0o755)
    return bin_dir


def run_step_script(script: str, tmp_path: Path, shell: str, exit_code: int = 0, **env: str) -> tuple[int, list[str]]:
    """Runs the script with only the variables given: one withEnv would leave empty is left UNSET, as Jenkins'
    EnvVars.override removes a variable whose value is empty."""
    args = tmp_path / "args"
    args.unlink(missing_ok=True)
    full_env = {
        "PATH": f"{fake_cli(tmp_path)}:{os.environ['PATH']}",
        "FAKE_ARGS": str(args),
        "FAKE_EXIT": str(exit_code),
        "PS_REPORTS": "reports",
        **{name: value for name, value in env.items() if value},
    }
    completed = subprocess.run(
        [shell, "-c", script], env=full_env, capture_output=True, text=True, timeout=30, check=False
    )
    return completed.returncode, args.read_text().splitlines() if args.exists() else []


#: Jenkins' `sh` runs /bin/sh: dash on Debian and Ubuntu agents, bash on most others.
SHELLS = [shell for shell in ("bash", "dash") if shutil.which(shell)]


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_passes_every_value_as_one_argument(step_script: str, tmp_path: Path, shell: str) -> None:
    flags = "\n".join(["--set", 'GREETING=it\'s $(touch pwned) "quoted"', "--image", "registry/app:1 2", "--dry-run"])
    code, argv = run_step_script(
        step_script, tmp_path, shell,
        PS_STEP="deploy", PS_CONFIG="deploy/my pipeline.yaml", PS_STATE=".pipeline-steps/state/shop.json",
        PS_FLAGS=flags,
    )  # fmt: skip
    assert code == 0
    assert argv == [
        "step", "deploy", "-c", "deploy/my pipeline.yaml", "--state", ".pipeline-steps/state/shop.json",
        "--junit-xml", "reports/deploy.xml", "--report", "reports/deploy.json",
        "--set", "GREETING=it's $(touch pwned) \"quoted\"", "--image", "registry/app:1 2", "--dry-run",
    ]  # fmt: skip
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_runs_with_the_optional_variables_unset(step_script: str, tmp_path: Path, shell: str) -> None:
    """No flags, no config, no state: Jenkins leaves PS_FLAGS, PS_CONFIG and PS_STATE unset (withEnv of an empty
    value), and the script, under `set -u`, must still run the command."""
    code, argv = run_step_script(
        step_script, tmp_path, shell, PS_STEP="check-env", PS_CONFIG="", PS_STATE="", PS_FLAGS=""
    )
    assert code == 0
    assert argv == ["step", "check-env", "--junit-xml", "reports/check-env.xml", "--report", "reports/check-env.json"]


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_rollback_and_exit_codes(step_script: str, tmp_path: Path, shell: str) -> None:
    code, argv = run_step_script(step_script, tmp_path, shell, exit_code=3, PS_STEP="rollback", PS_CONFIG="c.yaml")
    assert code == 3  # the caller's returnStatus sees the command's own code
    assert argv == ["rollback", "-c", "c.yaml"]


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_unlock_is_the_unlock_command_without_reports(
    step_script: str, tmp_path: Path, shell: str
) -> None:
    code, argv = run_step_script(
        step_script,
        tmp_path,
        shell,
        exit_code=1,
        PS_STEP="unlock",
        PS_CONFIG="c.yaml",
        PS_STATE="s.json",
        PS_FLAGS="--force",
    )
    assert code == 1  # another run holds the lock: the caller sees the refusal
    assert argv == ["unlock", "-c", "c.yaml", "--state", "s.json", "--force"]


@pytest.mark.parametrize("step", [*STEP_NAMES, "rollback", "unlock"])
def test_every_command_pipeline_step_runs_is_one_the_cli_accepts(step_script: str, tmp_path: Path, step: str) -> None:
    code, argv = run_step_script(
        step_script,
        tmp_path,
        "bash",
        PS_STEP=step,
        PS_CONFIG="deploy/pipeline.yaml",
        PS_STATE="s.json",
        PS_FLAGS="--dry-run",
    )
    assert code == 0
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"pipelineStep(step: {step!r}) runs pipeline-steps {' '.join(argv)}, which the CLI refuses")


def test_pipeline_step_script_passes_shellcheck(step_script: str, tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    script = tmp_path / "pipeline-step.sh"
    script.write_text("#!/bin/sh\n" + step_script)
    completed = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
