"""The shared library (libraryPath 'jenkins/'): every step documented, the same stages as the Jenkinsfile,
no release logic in Groovy, and pipelineStep's shell run for real with a stand-in pipeline-steps."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_steps.cli import build_parser
from pipeline_steps.step_names import STEP_NAMES
from tests.lint import REPO, require_tool
from tests.lint.test_jenkinsfile import STAGES
from tests.support import groovy

VARS = REPO / "jenkins" / "vars"
EXAMPLE = REPO / "examples" / "jenkins" / "Jenkinsfile"


def source(name: str) -> groovy.Node:
    return groovy.parse_file(VARS / f"{name}.groovy")


def field(root: groovy.Node, name: str) -> groovy.Node:
    [found] = [n for n in root.walk() if n.name == "@Field" and name in [t.text for t in n.head]]
    return found


def step_script() -> str:
    [script] = field(source("pipelineStep"), "SCRIPT").strings()
    assert script.quote == "'''"
    return script.text


def test_every_library_step_is_documented() -> None:
    steps = sorted(p.stem for p in VARS.glob("*.groovy"))
    assert steps == ["blueGreenRelease", "pipelineStep", "releaseApproval"]
    for name in steps:
        help_text = (VARS / f"{name}.txt").read_text()
        assert f"<b>{name}(" in help_text, f"{name}.txt should start with the step's call"
    assert sorted(p.stem for p in VARS.glob("*.txt")) == steps


def pipeline_steps_accepted() -> list[str]:
    return [t.text for t in field(source("pipelineStep"), "STEPS").strings()]


def test_pipeline_step_accepts_exactly_the_cli_steps_rollback_and_unlock() -> None:
    assert pipeline_steps_accepted() == [*STEP_NAMES, "rollback", "unlock"]


def test_no_release_logic_in_groovy() -> None:
    """Only pipelineStep runs a shell, and only pipeline-steps; the others call library steps."""
    for path in VARS.glob("*.groovy"):
        root = groovy.parse_file(path)
        scripts = [n.calls("sh")[0].named["script"][0].text for n in root.walk() if n.calls("sh")]
        assert scripts == (["SCRIPT"] if path.stem == "pipelineStep" else []), f"{path.name} runs a shell"
        for word in ("kubectl", "helm", "curl", "wget"):
            assert word not in path.read_text(), f"{path.name} mentions {word}"
    assert step_script().strip().splitlines()[-1] == 'pipeline-steps "$@"'


def test_blue_green_release_has_the_jenkinsfile_stages_each_one_step() -> None:
    root = source("blueGreenRelease")
    stages = groovy.leaf_stages(root)
    assert [s.stage_name() for s in stages] == list(STAGES.values())
    for (step, name), node in zip(STAGES.items(), stages, strict=True):
        steps = [a.positional[0].text for n in node.child("steps").walk() for a in n.calls("runStep") if a.positional]
        assert steps == [step], f"stage {name} runs {steps}"
    pipeline = next(n for n in root.walk() if n.name == "pipeline")
    [lock] = [a for n in pipeline.child("options").children() for a in n.calls("lock")]
    assert lock.text("resource") == "release-${app}"
    assert lock.literal("inversePrecedence") is True
    for name in ("Confirm", "Switch"):
        node = next(s for s in stages if s.stage_name() == name)
        assert [a for n in node.walk() for a in n.calls("milestone")], f"{name} needs a milestone"
    confirm = next(s for s in stages if s.stage_name() == "Confirm")
    assert [n.text() for n in confirm.children("agent")] == ["agent none"]
    [approval] = [n for n in confirm.walk() if n.calls("releaseApproval")]
    assert "node" not in [a.name for a in approval.ancestors()]
    [rollback] = [n for n in root.walk() if any(a.positional[:1] and a.positional[0].text == "rollback"
                                                for a in n.calls("runStep"))]  # fmt: skip
    assert groovy.in_post_condition(rollback, "unsuccessful")
    post = pipeline.child("post").child("always")
    assert [n for n in post.walk() if n.calls("junit")] and [n for n in post.walk() if n.calls("archiveArtifacts")]


def test_blue_green_release_gives_back_the_release_lock_when_the_approval_says_no() -> None:
    """As the Jenkinsfile: Confirm's `post { unsuccessful }` runs `unlock` on an agent with the config checked
    out, never as a dry run and not on a dry-run build; no other place unlocks."""
    root = source("blueGreenRelease")
    unlocks = [n for n in root.walk() for a in n.calls("runStep") if [t.text for t in a.positional[:1]] == ["unlock"]]
    assert len(unlocks) == 1
    [statement] = unlocks
    ancestors = list(statement.ancestors())
    [post] = [a for a in ancestors if a.name == "post"]
    assert post.parent is not None and post.parent.stage_name() == "Confirm"
    assert groovy.in_post_condition(statement, "unsuccessful")
    assert [a.text() for a in ancestors if a.name == "if"] == ["if ( ! params . DRY_RUN )"]
    [node] = [a for a in ancestors if a.name == "node"]
    assert node.children()[0].name == "checkout"
    # runStep passes the build's DRY_RUN as dryRun; the unlock runs only when that is false, and says so.
    assert "[ dryRun : false ]" in statement.text()


def test_release_approval_has_id_submitter_and_timeout() -> None:
    root = source("releaseApproval")
    [statement] = [n for n in root.walk() if n.calls("input")]
    [arguments] = statement.calls("input")
    assert {"id", "submitter", "message"} <= set(arguments.named)
    assert any(a.calls("timeout") for a in statement.ancestors()), "input needs a timeout around it"


def test_a_team_jenkinsfile_is_a_dozen_lines() -> None:
    code = [line for line in EXAMPLE.read_text().splitlines() if line.strip() and not line.strip().startswith("//")]
    assert len(code) <= 12, code
    assert code[0].startswith("@Library('pipeline-steps")
    root = groovy.parse_file(EXAMPLE)
    [call] = [a for n in root.walk() for a in n.calls("blueGreenRelease")]
    assert {"app", "config"} <= set(call.named)


# --- pipelineStep's shell, run by the shells Jenkins' `sh` uses -------------------------------------------


def fake_cli(tmp_path: Path) -> Path:
    """A stand-in `pipeline-steps` that records its arguments one a line and exits with $FAKE_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pipeline-steps"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$FAKE_ARGS"\nexit "${FAKE_EXIT:-0}"\n')
    fake.chmod(0o755)
    return bin_dir


def run_step_script(tmp_path: Path, shell: str, exit_code: int = 0, **env: str) -> tuple[int, list[str]]:
    args = tmp_path / "args"
    args.unlink(missing_ok=True)
    bin_dir = tmp_path / "bin" if (tmp_path / "bin").exists() else fake_cli(tmp_path)
    full_env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_ARGS": str(args),
        "FAKE_EXIT": str(exit_code),
        "PS_CONFIG": "",
        "PS_STATE": "",
        "PS_REPORTS": "reports",
        "PS_FLAGS": "",
        **env,
    }
    completed = subprocess.run(
        [shell, "-c", step_script()], env=full_env, capture_output=True, text=True, timeout=30, check=False
    )
    return completed.returncode, args.read_text().splitlines() if args.exists() else []


#: Jenkins' `sh` runs /bin/sh: dash on Debian and Ubuntu agents, bash on most others.
SHELLS = [shell for shell in ("bash", "dash") if shutil.which(shell)]


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_passes_every_value_as_one_argument(tmp_path: Path, shell: str) -> None:
    flags = "\n".join(["--set", 'GREETING=it\'s $(touch pwned) "quoted"', "--image", "registry/app:1 2", "--dry-run"])
    code, argv = run_step_script(
        tmp_path,
        shell,
        PS_STEP="deploy",
        PS_CONFIG="deploy/my pipeline.yaml",
        PS_STATE=".pipeline-steps/state/shop.json",
        PS_FLAGS=flags,
    )
    assert code == 0
    assert argv == [
        "step", "deploy", "-c", "deploy/my pipeline.yaml", "--state", ".pipeline-steps/state/shop.json",
        "--junit-xml", "reports/deploy.xml", "--report", "reports/deploy.json",
        "--set", "GREETING=it's $(touch pwned) \"quoted\"", "--image", "registry/app:1 2", "--dry-run",
    ]  # fmt: skip
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_rollback_and_exit_codes(tmp_path: Path, shell: str) -> None:
    code, argv = run_step_script(tmp_path, shell, exit_code=3, PS_STEP="rollback", PS_CONFIG="c.yaml")
    assert code == 3  # the caller's returnStatus sees the command's own code
    assert argv == ["rollback", "-c", "c.yaml"]
    code, argv = run_step_script(tmp_path, shell, PS_STEP="check-env")
    assert code == 0
    assert argv == ["step", "check-env", "--junit-xml", "reports/check-env.xml", "--report", "reports/check-env.json"]


@pytest.mark.parametrize("shell", SHELLS)
def test_pipeline_step_unlock_is_the_unlock_command_without_reports(tmp_path: Path, shell: str) -> None:
    code, argv = run_step_script(
        tmp_path, shell, exit_code=1, PS_STEP="unlock", PS_CONFIG="c.yaml", PS_STATE="s.json", PS_FLAGS="--force"
    )
    assert code == 1  # another run holds the lock: the caller sees the refusal
    assert argv == ["unlock", "-c", "c.yaml", "--state", "s.json", "--force"]


@pytest.mark.parametrize("step", pipeline_steps_accepted())
def test_every_command_pipeline_step_runs_is_one_the_cli_accepts(tmp_path: Path, step: str) -> None:
    code, argv = run_step_script(
        tmp_path, "bash", PS_STEP=step, PS_CONFIG="deploy/pipeline.yaml", PS_STATE="s.json", PS_FLAGS="--dry-run"
    )
    assert code == 0
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"pipelineStep(step: {step!r}) runs pipeline-steps {' '.join(argv)}, which the CLI refuses")


def test_pipeline_step_script_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck = require_tool("shellcheck")
    script = tmp_path / "pipeline-step.sh"
    script.write_text("#!/bin/sh\n" + step_script())
    completed = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
