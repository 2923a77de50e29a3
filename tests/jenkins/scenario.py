"""Scenarios for the harness: a Jenkins with agents, credentials and the job's repository, and the builds to run.

Every `pipeline-steps` a build runs goes through a recording wrapper first (on the agents' PATH), which notes its
arguments and environment and then either runs the real command line (on the sandbox) or stands in for it with
the exit code a test asks for (everywhere else).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

from tests.jenkins.harness import REPO, Build, Jenkins

JENKINSFILE = REPO / "Jenkinsfile"
EXAMPLE = REPO / "examples" / "jenkins" / "Jenkinsfile"
LIBRARY = {"name": "pipeline-steps", "path": str(REPO / "jenkins")}
JOB = "release-shop"
#: Who may approve, in the Jenkinsfile (APPROVERS) and in the example (approvers:), and who does.
USERS = {"alice": ["release-approvers", "shop-release-approvers"], "mallory": []}
STEP_STAGES = {
    "pre-clean": "Pre-clean", "prepare-image": "Prepare Image", "check-env": "Check Env", "deploy": "Deploy",
    "verify-staged": "Verify Staged", "confirm": "Confirm", "switch": "Switch", "verify-prod": "Verify Prod",
    "post-clean": "Post-clean",
}  # fmt: skip

WRAPPER = """#!{python}
# pipeline-steps as the agents have it, for the harness: records the call, then runs the real command line
# (PIPELINE_STEPS_REAL) or stands in for it with the exit code CLI_EXITS gives for its first words.
import json, os, sys
argv = sys.argv[1:]
record = {{"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}}
with open(os.environ["CLI_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\\n")
real = os.environ.get("PIPELINE_STEPS_REAL")
if real:
    os.execv(real, [real, *argv])
exits = json.loads(os.environ.get("CLI_EXITS") or "{{}}")
words = " ".join(argv[:2]) if argv and argv[0] == "step" else (argv[0] if argv else "")
print("stand-in pipeline-steps", *argv)
sys.exit(int(exits.get(words, 0)))
"""


@dataclasses.dataclass
class Setup:
    """The scenario's Jenkins: where it keeps its files, what `checkout scm` checks out, the agents' environment."""

    root: Path
    scm: Path
    kubeconfig: Path
    agent_env: dict[str, str]
    cli_log: Path

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        real_cli: bool = False,
        app_dir: Path | None = None,
        kubeconfig: Path | None = None,
        **env: str,
    ) -> Setup:
        root.mkdir(parents=True, exist_ok=True)
        scm = root / "repository"
        (scm / "deploy").mkdir(parents=True)
        if app_dir is not None:
            shutil.copytree(app_dir, scm / "deploy", dirs_exist_ok=True)
        else:
            (scm / "deploy" / "pipeline.yaml").write_text("# the stand-in command line reads no config\n")
        bin_dir = root / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "pipeline-steps"
        wrapper.write_text(WRAPPER.format(python=sys.executable))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        if kubeconfig is None:
            kubeconfig = root / "kubeconfig"
            kubeconfig.write_text("# stand-in kubeconfig\n")
        cli_log = root / "cli.jsonl"
        agent_env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(root)),
            "LANG": "C.UTF-8",
            "CLI_LOG": str(cli_log),
        }
        if real_cli:
            real = shutil.which("pipeline-steps", path=str(Path(sys.executable).parent))
            assert real, "pipeline-steps is not installed beside the test's Python"
            agent_env["PIPELINE_STEPS_REAL"] = real
        agent_env.update(env)
        return cls(root, scm, kubeconfig, agent_env, cli_log)

    def scenario(self, *builds: dict[str, Any], exits: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
        env = dict(self.agent_env)
        if exits:
            env["CLI_EXITS"] = json.dumps(exits)
        return {
            "root": str(self.root / "jenkins"),
            "scm": str(self.scm),
            "agentEnv": env,
            "library": LIBRARY,
            "users": USERS,
            "credentials": {
                "kubeconfig": {"type": "Secret file", "path": str(self.kubeconfig)},
                "smtp-password": {"type": "Secret text", "value": "not-a-real-password"},
            },
            "builds": list(builds),
            **extra,
        }

    def calls(self) -> list[dict[str, Any]]:
        """Every pipeline-steps call so far, in order: argv, cwd and environment."""
        if not self.cli_log.exists():
            return []
        return [json.loads(line) for line in self.cli_log.read_text().splitlines()]


def build(script: Path = JENKINSFILE, **spec: Any) -> dict[str, Any]:
    """One build of the job: params, inputs ({id: {answer, by}}), abortAt, after (index), restart..."""
    spec.setdefault("job", JOB)
    spec.setdefault("inputs", {"ReleaseApproval": {"answer": "approve", "by": "alice"}})
    return {"script": str(script), **spec}


def run(jenkins: Jenkins, setup: Setup, *builds: dict[str, Any], **extra: Any) -> list[Build]:
    """Runs the builds; each build's summary gets `cli`: the pipeline-steps calls it made (by BUILD_TAG)."""
    before = len(setup.calls())
    done = jenkins.run(setup.scenario(*builds, **extra))
    calls = setup.calls()[before:]
    for summary in done:
        tag = f"jenkins-{summary['job']}-{summary['number']}"
        summary["cli"] = [call for call in calls if call["env"].get("BUILD_TAG") == tag]
    return done


def words(call: dict[str, Any]) -> str:
    """`step deploy`, `rollback`, `unlock`: what a call runs."""
    argv: list[str] = call["argv"]
    return " ".join(argv[:2]) if argv and argv[0] == "step" else argv[0]


def ran(build: Build) -> list[str]:
    return [words(call) for call in build["cli"]]
