"""The Jenkinsfile's stages, run on the cluster as a Jenkins build would run them.

The test reads the Jenkinsfile (tests/support/groovy.py) and walks it the way Jenkins walks a build that
goes well: every `agent { label }` and `node` gets a fresh workspace with a checkout, `sh` runs with bash
inside the credentials the file binds, `stash` / `unstash` / `dir { deleteDir() }` act on the files,
and `post` blocks run by their condition. The parameters and environment come from the file; the
credentials and the app's own variables from the test. The `input` in Confirm is the one thing replaced:
the approver says yes at once, or no (which aborts the build there, as Jenkins does, and runs the `post`
blocks of an unsuccessful build). So the test breaks when the Jenkinsfile changes in a way its commands,
state file or stashes no longer carry a release through, and it shows the release really happened:
the public Service's selector moved and the public endpoint answers from the new version; or, when the
approver says no, that nothing public changed and the cluster's release lock was given back.

What this cannot show: Jenkins' own behaviour (lock, milestone, input, executors, withCredentials
masking, junit); see docs/ci.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps_sandbox.cluster import Cluster
from tests.support import groovy
from tests.support.release import APPS, Workspace
from tests.support.traffic import settled_images

JENKINSFILE = Path(__file__).resolve().parents[2] / "Jenkinsfile"
V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
BUILD_TAG = "jenkins-release-shop-42"
#: Environment entries that are Groovy expressions: what each evaluates to in a build of V2, not a dry run.
EXPRESSIONS = {"PIPELINE_STEPS_IMAGE": V2, "PIPELINE_STEPS_RUN_ID": BUILD_TAG, "DRY_RUN_FLAG": ""}
#: Statements that change nothing a release needs, here: Jenkins bookkeeping and the approval (auto).
NO_OPS = {"milestone", "echo", "junit", "archiveArtifacts", "error", "env", "String", "int", "input"}
POST_ORDER = ["always", "changed", "fixed", "regression", "aborted", "failure", "success", "unstable",
              "unsuccessful", "cleanup"]  # fmt: skip
FAILED_CONDITIONS = {"always", "changed", "regression", "aborted", "failure", "unsuccessful", "cleanup"}
LEASE = "pipeline-steps-web"  #: the release lock of the test app (pipeline_steps.release_lock.lease_name)


class GateSaidNo(Exception):
    """The `input` was rejected: Jenkins aborts the build at that statement."""


@dataclasses.dataclass
class Build:
    """One emulated build of the Jenkinsfile."""

    root: Path
    env: dict[str, str]
    #: Abort the build when this stage is reached (as a person pressing Abort would), to take the failure path.
    abort_at: str | None = None
    #: What the approver answers at the `input`: yes, or no (the build aborts there).
    approve: bool = True
    #: Called with each `sh` command's argv just before it runs, to look at the cluster between commands.
    before_sh: Callable[[list[str]], None] | None = None
    logs: list[str] = dataclasses.field(default_factory=list)  #: each sh's stdout and stderr, as commands
    stashes: dict[str, Path] = dataclasses.field(default_factory=dict)
    commands: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)  #: (stage, argv)
    workspaces: list[Path] = dataclasses.field(default_factory=list)
    public_switched: bool = False
    aborted: bool = False
    stage: str = ""

    def new_workspace(self, *, checkout: bool) -> Path:
        path = self.root / f"ws{len(self.workspaces)}"
        path.mkdir()
        if checkout:
            self.checkout(path)
        self.workspaces.append(path)
        return path

    @staticmethod
    def checkout(path: Path) -> None:
        shutil.copytree(APPS / "bluegreen", path / "deploy", dirs_exist_ok=True)

    # -- stages --------------------------------------------------------------------------------------------

    def run_pipeline(self, pipeline: groovy.Node) -> None:
        assert [n.text() for n in pipeline.children("agent")] == ["agent none"]
        for stage in pipeline.child("stages").children("stage"):
            if not self.aborted:
                self.run_stage(stage, None)
        self.run_post(pipeline, None)

    def run_stage(self, stage: groovy.Node, workspace: Path | None) -> None:
        self.stage = stage.stage_name()
        if self.stage == self.abort_at:
            self.aborted = True
            return
        for agent in stage.children("agent"):
            if agent.text() == "agent none":
                workspace = None
            else:
                assert agent.is_block and agent.children()[0].name == "label", agent.text()
                workspace = self.new_workspace(checkout=True)  # declarative checks out on every agent
        if stage.children("stages"):
            for inner in stage.child("stages").children("stage"):
                if not self.aborted:
                    self.run_stage(inner, workspace)
        else:
            try:
                self.run_body(stage.child("steps"), workspace)
            except GateSaidNo:
                self.aborted = True  # the rest of the stage is skipped; its post and the pipeline's run
        self.run_post(stage, workspace)

    def run_post(self, owner: groovy.Node, workspace: Path | None) -> None:
        posts = owner.children("post")
        if not posts:
            return
        conditions = {c.name: c for c in posts[0].children()}
        assert set(conditions) <= set(POST_ORDER), conditions
        taken = FAILED_CONDITIONS if self.aborted else {"always", "success", "cleanup"}
        for name in POST_ORDER:
            if name in conditions and name in taken:
                self.run_body(conditions[name], workspace)

    # -- steps ---------------------------------------------------------------------------------------------

    def run_body(self, block: groovy.Node, workspace: Path | None) -> None:
        taken: bool | None = None  #: whether the `if` before an `else` ran its branch (None: not followed)
        for node in block.children():
            if node.name == "if":
                taken = self.condition(node)
                self.run_branch(node, workspace, taken)
            elif node.name == "else":
                self.run_branch(node, workspace, None if taken is None else not taken)
                taken = None
            else:
                taken = None
                self.run_node(node, workspace)

    def condition(self, node: groovy.Node) -> bool | None:
        """What an `if` decides in this build, or None for a condition the test does not follow."""
        condition = node.text()
        if "PUBLIC_SWITCHED" in condition:  # the rollback's guard: raised by Switch, lowered by Verify Prod
            return self.public_switched
        dry_run = self.env["DRY_RUN"] == "true"
        if condition == "if ( params . DRY_RUN )":
            return dry_run
        if condition == "if ( ! params . DRY_RUN )":
            return not dry_run
        return None  # the exit-code branches, none of which a build the test runs takes

    def run_branch(self, node: groovy.Node, workspace: Path | None, taken: bool | None) -> None:
        if taken is None:
            assert not groovy.sh_calls(node), f"line {node.line}: sh in a branch the test does not follow"
        elif taken:
            self.run_body(node, workspace)

    def run_node(self, node: groovy.Node, workspace: Path | None) -> None:
        name = node.name
        if node.calls("sh"):
            assert workspace is not None, f"line {node.line}: sh outside an agent"
            self.sh(node, workspace)
        elif node.calls("input"):
            # The gate waits on the controller, not on an agent, and a person answers it.
            assert workspace is None, f"line {node.line}: input inside a node holds an executor while it waits"
            if not self.approve:
                raise GateSaidNo(f"line {node.line}: rejected")
        elif name == "node":
            self.run_body(node, self.new_workspace(checkout=False))
        elif name in ("withCredentials", "script", "steps", "timeout", "catchError"):
            self.run_body(node, workspace)
        elif name == "dir":
            [target] = node.calls("dir")[0].positional
            assert [c.text() for c in node.children()] == ["deleteDir ( )"], node.text()
            assert workspace is not None
            shutil.rmtree(workspace / target.text, ignore_errors=True)
        elif name == "checkout":
            assert workspace is not None
            self.checkout(workspace)
        elif name == "stash":
            assert workspace is not None
            self.stash(node.calls("stash")[0], workspace)
        elif name == "unstash":
            assert workspace is not None
            [stash] = node.calls("unstash")[0].positional
            assert stash.text in self.stashes, f"line {node.line}: no stash {stash.text} yet"
            shutil.copytree(self.stashes[stash.text], workspace, dirs_exist_ok=True)
        else:
            assert name in NO_OPS, f"line {node.line}: the test does not know `{node.text()}`; teach it"
            if "env . PUBLIC_SWITCHED = params . DRY_RUN ?" in node.text():
                self.public_switched = True

    def sh(self, node: groovy.Node, workspace: Path) -> None:
        [(_, script, arguments)] = groovy.sh_calls(node)
        if self.before_sh is not None:
            self.before_sh(script.text.split())
        completed = subprocess.run(
            ["bash", "-e", "-c", script.text],
            cwd=workspace,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        argv = script.text.split()
        self.commands.append((self.stage, argv))
        self.logs.append(completed.stdout + completed.stderr)
        assert completed.returncode == 0, (
            f"stage {self.stage}: {script.text}\nexit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        )
        if arguments.literal("returnStatus"):
            assert "status" in node.text()
        if argv[1:3] == ["step", "verify-prod"]:
            self.public_switched = False  # the Jenkinsfile lowers the flag once Verify Prod passed

    def stash(self, arguments: groovy.Arguments, workspace: Path) -> None:
        name, includes = arguments.string("name"), arguments.string("includes")
        assert name and includes
        patterns = [_ant_pattern(p.strip()) for p in includes.text.split(",")]
        target = self.root / f"stash-{name.text}-{len(self.workspaces)}-{time.monotonic_ns()}"
        target.mkdir()
        for path in workspace.rglob("*"):
            relative = path.relative_to(workspace).as_posix()
            if path.is_file() and any(p.fullmatch(relative) for p in patterns):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)
        self.stashes[name.text] = target  # a stash of the same name replaces the earlier one


def _ant_pattern(pattern: str) -> re.Pattern[str]:
    """Ant's include syntax as stash reads it: ** any folders, * and ? within one name."""
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern):
        if part in ("**", "**/"):
            regex += ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def jenkins_environment(pipeline: groovy.Node, cluster: Cluster, namespace: str) -> dict[str, str]:
    """What Jenkins gives the `sh` steps: the parameters, the environment block, the bound credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # pipeline-steps on the agent
    for statement in pipeline.child("parameters").children():
        [arguments] = [a for kind in ("string", "booleanParam") for a in statement.calls(kind)]
        env[arguments.text("name")] = str(arguments.literal("defaultValue")).lower()
    env["IMAGE"] = V2
    for statement in pipeline.child("environment").children():
        name, _, value = statement.head
        if value.quote in ("'", "'''"):
            env[name.text] = value.text
        else:
            assert name.text in EXPRESSIONS, f"line {statement.line}: the test cannot evaluate {name.text}; add it"
            env[name.text] = EXPRESSIONS[name.text]
    env.update(
        APP="web",  # the test app's name, as its config has it; a team sets APP to its own
        BUILD_TAG=BUILD_TAG,
        KUBECONFIG=str(cluster.kubeconfig),  # withCredentials(file(credentialsId: 'kubeconfig', ...))
        SMTP_PASSWORD="not-used-the-test-app-sends-no-mail",
        NAMESPACE=namespace,  # the test app's config reads its namespace from the environment
    )
    return env


@pytest.fixture
def pipeline() -> groovy.Node:
    return groovy.parse_file(JENKINSFILE).child("pipeline")


@pytest.fixture
def released_v1(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[str]:
    """V1 released and public on role blue, as the CLI's own tests do it; yields the public URL."""
    workspace = Workspace.create(tmp_path / "first", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    assert _selector(cluster, namespace)["role"] == "blue"
    url = cluster.service_url(namespace, "web")
    assert settled_images(url) == {V1}
    yield url


def _selector(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict(cluster.core.read_namespaced_service("web", namespace).spec.selector)


def test_the_jenkinsfile_stages_release_the_new_version(
    cluster: Cluster, namespace: str, pipeline: groovy.Node, released_v1: str, tmp_path: Path
) -> None:
    build = Build(tmp_path / "build", jenkins_environment(pipeline, cluster, namespace))
    build.root.mkdir()

    build.run_pipeline(pipeline)

    steps = [(stage, argv[2]) for stage, argv in build.commands if argv[1] == "step"]
    assert [step for _, step in steps] == list(STEP_NAMES)
    assert [argv[1] for _, argv in build.commands] == ["step"] * len(STEP_NAMES)  # no rollback
    # The agents: one for Pre-clean .. Verify Staged, a short one for Confirm, one for Switch .. Post-clean,
    # and the one `post` publishes from: the state crossed three of them in the stash alone.
    assert len(build.workspaces) == 4
    assert _selector(cluster, namespace)["role"] == "green"
    assert settled_images(released_v1) == {V2}
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations
    assert annotations["pipeline-steps.dev/run-id"] == BUILD_TAG
    assert annotations["pipeline-steps.dev/previous-role"] == "blue"
    # What `post` publishes: every step's JUnit report and the state of this run.
    published = build.workspaces[-1]
    assert sorted(p.stem for p in (published / "reports").glob("*.xml")) == sorted(STEP_NAMES)
    state = json.loads((published / ".pipeline-steps" / "state" / "web.json").read_text())
    assert state["run_id"] == BUILD_TAG
    assert state["steps"]["confirm"] == "awaiting-approval"  # handed to the Jenkins input, which said yes
    assert state["steps"]["post-clean"] in ("succeeded", "unchanged")
    confirm = json.loads((published / "reports" / "confirm.json").read_text())
    assert "the Jenkins input step decide" in confirm["steps"][0]["summary"]


def test_an_abort_after_switch_rolls_back_through_the_post_block(
    cluster: Cluster, namespace: str, pipeline: groovy.Node, released_v1: str, tmp_path: Path
) -> None:
    """Aborted before Verify Prod (say, at a hung check): `post { unsuccessful }` switches traffic back."""
    build = Build(tmp_path / "build", jenkins_environment(pipeline, cluster, namespace), abort_at="Verify Prod")
    build.root.mkdir()

    build.run_pipeline(pipeline)

    ran = [argv[1] if argv[1] == "rollback" else argv[2] for _, argv in build.commands]
    assert ran == [*STEP_NAMES[: STEP_NAMES.index("switch") + 1], "rollback"]
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}


def _lease_holders(cluster: Cluster, namespace: str) -> dict[str, str | None]:
    leases = cluster.coordination.list_namespaced_lease(namespace).items
    return {lease.metadata.name: lease.spec.holder_identity for lease in leases}


def test_a_rejected_approval_gives_back_the_release_lock_and_changes_nothing_public(
    cluster: Cluster, namespace: str, pipeline: groovy.Node, released_v1: str, tmp_path: Path
) -> None:
    """The approver says no at Confirm's `input`: the build aborts there, Release never runs, and Confirm's
    `post { unsuccessful }` gives back the release lock that Deploy took and confirm kept for the decision."""
    seen: list[tuple[str, dict[str, str | None]]] = []  #: (command, the Leases just before it ran)

    def look(argv: list[str]) -> None:
        seen.append((argv[1] if argv[1] != "step" else argv[2], _lease_holders(cluster, namespace)))

    build = Build(tmp_path / "build", jenkins_environment(pipeline, cluster, namespace), approve=False, before_sh=look)
    build.root.mkdir()

    build.run_pipeline(pipeline)

    assert build.aborted
    ran = [(stage, argv[1] if argv[1] != "step" else argv[2]) for stage, argv in build.commands]
    assert [command for _, command in ran] == [*STEP_NAMES[: STEP_NAMES.index("confirm") + 1], "unlock"]
    assert ran[-1] == ("Confirm", "unlock")  # Confirm's post; no rollback, since nothing was switched
    # The lock was this build's while the person decided, and is gone after the unlock, not before it.
    [(_, before_unlock)] = [(command, leases) for command, leases in seen if command == "unlock"]
    assert before_unlock.get(LEASE) == BUILD_TAG
    assert LEASE not in _lease_holders(cluster, namespace)
    assert f"held by run {BUILD_TAG}" in build.logs[-1]
    # Nothing public changed: the selector still points at blue, which still answers V1.
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations or {}
    assert annotations.get("pipeline-steps.dev/run-id") != BUILD_TAG
    # The Confirm node, the post's node for the unlock, and the pipeline's post: Release never got an agent.
    assert len(build.workspaces) == 4
    published = build.workspaces[-1]
    state = json.loads((published / ".pipeline-steps" / "state" / "web.json").read_text())
    assert state["run_id"] == BUILD_TAG
    assert state["steps"]["confirm"] == "awaiting-approval"
    assert "switch" not in state["steps"]
