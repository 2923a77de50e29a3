"""The Jenkinsfile, read as a declarative pipeline: its stages are the release steps, in order, each one
`pipeline-steps step` call the command line accepts; and Jenkins' own gates are where they must be.

What no test here can show: that a real Jenkins with these plugins runs it (tests/e2e/test_jenkinsfile_stages.py
runs its `sh` commands in order on a cluster; docs/ci.md lists what only a real Jenkins can show).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pipeline_steps.cli import build_parser
from pipeline_steps.step_names import STEP_NAMES
from tests.lint import REPO
from tests.support import groovy

JENKINSFILE = REPO / "Jenkinsfile"

#: Step name -> stage name, in pipeline order. A new step needs a stage: this mapping then fails below.
STAGES = {
    "pre-clean": "Pre-clean",
    "prepare-image": "Prepare Image",
    "check-env": "Check Env",
    "deploy": "Deploy",
    "verify-staged": "Verify Staged",
    "confirm": "Confirm",
    "switch": "Switch",
    "verify-prod": "Verify Prod",
    "post-clean": "Post-clean",
}
STATE = ".pipeline-steps/state/$APP.json"
SINGLE_QUOTES = ("'", "'''")


@pytest.fixture(scope="module")
def pipeline() -> groovy.Node:
    return groovy.parse_file(JENKINSFILE).child("pipeline")


def stage(pipeline: groovy.Node, name: str) -> groovy.Node:
    [found] = [s for s in groovy.leaf_stages(pipeline) if s.stage_name() == name]
    return found


def stage_steps(pipeline: groovy.Node, name: str) -> groovy.Node:
    """The stage's `steps` block: what runs when the stage runs, without its `post`."""
    return stage(pipeline, name).child("steps")


def step_calls(node: groovy.Node) -> list[tuple[groovy.Node, list[str]]]:
    """(statement, argv) of the `sh` calls below `node` that run pipeline-steps."""
    calls = [(statement, shlex.split(script.text)) for statement, script, _ in groovy.sh_calls(node)]
    return [(statement, argv) for statement, argv in calls if argv and argv[0] == "pipeline-steps"]


def options(argv: list[str]) -> dict[str, str]:
    """--flag value pairs (and -c); bare words such as $DRY_RUN_FLAG map to ""."""
    found: dict[str, str] = {}
    rest = iter(argv)
    for word in rest:
        if word.startswith("-"):
            found[word] = next(rest, "")
        else:
            found[word] = ""
    return found


def environment(pipeline: groovy.Node) -> dict[str, groovy.Token]:
    values = {}
    for statement in pipeline.child("environment").children():
        head = statement.head
        assert len(head) == 3 and head[1].text == "=", f"line {statement.line}: not NAME = 'value'"
        values[head[0].text] = head[2]
    return values


def test_the_step_mapping_covers_every_cli_step() -> None:
    assert tuple(STAGES) == STEP_NAMES


def test_leaf_stages_are_the_release_steps_in_order(pipeline: groovy.Node) -> None:
    assert [s.stage_name() for s in groovy.leaf_stages(pipeline)] == list(STAGES.values())


@pytest.mark.parametrize(("step", "name"), STAGES.items())
def test_each_stage_runs_its_own_step_once_with_the_shared_flags(pipeline: groovy.Node, step: str, name: str) -> None:
    calls = step_calls(stage_steps(pipeline, name))
    assert len(calls) == 1, f"stage {name} should run pipeline-steps once, runs it {len(calls)} times"
    [(_, argv)] = calls
    assert argv[1:3] == ["step", step]
    flags = options(argv[3:])
    assert flags == {
        "-c": "$CONFIG",
        "--state": STATE,
        "$DRY_RUN_FLAG": "",
        "--junit-xml": f"reports/{step}.xml",
        "--report": f"reports/{step}.json",
    }


@pytest.mark.parametrize("dry_run", ["", "--dry-run"])
def test_every_pipeline_steps_command_is_one_the_cli_accepts(pipeline: groovy.Node, dry_run: str) -> None:
    values = {"$CONFIG": "deploy/pipeline.yaml", STATE: ".pipeline-steps/state/shop.json", "$DRY_RUN_FLAG": dry_run}
    parser = build_parser()
    commands = step_calls(pipeline)
    assert len(commands) == len(STAGES) + 2  # the steps, the rollback and the unlock
    for statement, argv in commands:
        words = [values.get(word, word) for word in argv[1:]]
        try:
            parser.parse_args([word for word in words if word])
        except SystemExit:
            pytest.fail(f"Jenkinsfile line {statement.line}: the CLI refuses {shlex.join(argv)}")


def test_the_only_shell_commands_are_pipeline_steps_calls(pipeline: groovy.Node) -> None:
    """No release logic in Groovy or shell: every sh runs pipeline-steps, one command, nothing else."""
    for statement, script, _ in groovy.sh_calls(pipeline):
        argv = shlex.split(script.text)
        assert argv[0] == "pipeline-steps", f"line {statement.line}: {script.text}"
        assert not set(script.text) & set(";&|`\n<>"), f"line {statement.line}: one command per sh: {script.text}"


def test_every_sh_is_single_quoted_and_binds_the_kubeconfig(pipeline: groovy.Node) -> None:
    """Single quotes: the shell, not Groovy, expands the secrets, so none is interpolated into a script."""
    for statement, script, _ in groovy.sh_calls(pipeline):
        assert script.quote in SINGLE_QUOTES, f"line {statement.line}: sh text in {script.quote} quotes"
        bindings = [b for a in statement.ancestors() if a.name == "withCredentials" for b in a.head]
        assert [t for t in bindings if t.kind == "ident" and t.text == "file"], f"line {statement.line}"
        variables = [t.text for t in bindings if t.kind == "str"]
        assert "KUBECONFIG" in variables, f"line {statement.line}: sh outside withCredentials(KUBECONFIG)"


def test_only_confirm_sees_the_smtp_password(pipeline: groovy.Node) -> None:
    for statement, argv in step_calls(pipeline):
        bindings = [b for a in statement.ancestors() if a.name == "withCredentials" for b in a.head]
        sees_password = any(t.kind == "str" and t.text == "SMTP_PASSWORD" for t in bindings)
        assert sees_password == (argv[1:3] == ["step", "confirm"]), f"line {statement.line}"
        if sees_password:
            assert any(t.kind == "ident" and t.text == "string" for t in bindings)


def test_the_state_file_lives_in_the_workspace_and_travels_in_the_stash(pipeline: groovy.Node) -> None:
    assert not STATE.startswith("/")
    stashes = [a for n in pipeline.walk() for a in n.calls("stash")]
    unstashes = [a for n in pipeline.walk() for a in n.calls("unstash")]
    assert stashes and unstashes
    names = {a.text("name") for a in stashes}
    assert len(names) == 1
    assert {a.positional[0].text for a in unstashes} == names
    for arguments in stashes:
        includes = [p.strip() for p in arguments.text("includes").split(",")]
        assert ".pipeline-steps/**" in includes and "reports/**" in includes
        assert arguments.literal("allowEmpty") is True


def test_one_release_per_app_at_a_time(pipeline: groovy.Node) -> None:
    """The lock is on the whole build, so the rollback in `post` still holds it."""
    [lock] = [a for n in pipeline.child("options").children() for a in n.calls("lock")]
    app = environment(pipeline)["APP"]
    assert app.quote in SINGLE_QUOTES
    assert lock.text("resource") == f"release-{app.text}"
    assert lock.literal("inversePrecedence") is True


def test_milestones_stop_an_older_build_before_confirm_and_switch(pipeline: groovy.Node) -> None:
    ordinals = []
    for name in ("Confirm", "Switch"):
        found = [(n, a) for n in stage(pipeline, name).walk() for a in n.calls("milestone")]
        assert len(found) == 1, f"stage {name} needs one milestone"
        [(statement, arguments)] = found
        [(step, _)] = step_calls(stage_steps(pipeline, name))
        assert statement.line < step.line, f"the milestone in {name} must come before its step"
        ordinals.append(arguments.literal("ordinal"))
    assert all(isinstance(o, int) for o in ordinals) and ordinals == sorted(set(ordinals))


def test_confirm_waits_for_an_approver_without_an_executor(pipeline: groovy.Node) -> None:
    confirm = stage(pipeline, "Confirm")
    assert [n.text() for n in confirm.children("agent")] == ["agent none"]
    found = [(n, a) for n in confirm.walk() for a in n.calls("input")]
    assert len(found) == 1
    [(statement, arguments)] = found
    assert arguments.text("id") == "ReleaseApproval"
    submitter = arguments.named.get("submitter")
    assert submitter, "input needs a submitter: otherwise anyone who can build could approve"
    enclosing = [a.name for a in statement.ancestors()]
    assert "node" not in enclosing, "input inside node holds an executor while waiting"
    [timeout] = [a for a in statement.ancestors() if a.name == "timeout"]
    [limits] = timeout.calls("timeout")
    assert isinstance(limits.literal("time"), int) and limits.literal("time") > 0
    assert environment(pipeline)["APPROVERS"].text, "the submitter comes from APPROVERS"
    # The e-mail is sent from an agent, which is released before the input waits.
    [(step, _)] = step_calls(confirm.child("steps"))
    assert "node" in [a.name for a in step.ancestors()]
    assert step.line < statement.line
    mode = environment(pipeline)["PIPELINE_STEPS_CONFIRM_MODE"]
    assert (mode.text, mode.quote) == ("jenkins", "'")


def test_every_command_acts_for_the_builds_run_id(pipeline: groovy.Node) -> None:
    """One run id for every stage and the unlock: BUILD_TAG, through PIPELINE_STEPS_RUN_ID, never a flag that
    one command could get wrong. The release lock on the cluster is held by it, so the unlock must name it."""
    run_id = environment(pipeline)["PIPELINE_STEPS_RUN_ID"]
    assert (run_id.text, run_id.quote) == ("${env.BUILD_TAG}", '"')
    for statement, argv in step_calls(pipeline):
        assert "--run-id" not in argv, f"line {statement.line}: the run id comes from PIPELINE_STEPS_RUN_ID"


def test_a_gate_that_says_no_gives_back_the_release_lock(pipeline: groovy.Node) -> None:
    """Rejected, timed out or aborted at the `input`: the lock confirm kept for the person deciding is given
    back by Confirm's `post { unsuccessful }`, from an agent with the config checked out; not on a dry run."""
    unlocks = [(s, argv) for s, argv in step_calls(pipeline) if argv[1] == "unlock"]
    assert len(unlocks) == 1, "one unlock: the gate's; every step gives the lock back itself when it fails"
    [(statement, argv)] = unlocks
    assert options(argv[2:]) == {"-c": "$CONFIG"}  # no --force: only the lock this run holds
    ancestors = list(statement.ancestors())
    confirm = stage(pipeline, "Confirm")
    [post] = [a for a in ancestors if a.name == "post"]
    assert post.parent is confirm, f"line {statement.line}: the unlock belongs to Confirm's post"
    assert groovy.in_post_condition(statement, "unsuccessful")
    [guard] = [a for a in ancestors if a.name == "if"]
    assert guard.text() == "if ( ! params . DRY_RUN )", "a dry run takes no lock, so it gives none back"
    # Confirm has `agent none`: the post needs an agent of its own, with the config (-c) checked out first.
    [node] = [a for a in ancestors if a.name == "node"]
    assert [t.text for t in node.strings()] == ["pipeline-steps"]
    body = [child.name for child in node.children()]
    assert body[0] == "checkout", f"line {node.line}: check out the config before the unlock"
    # The input it follows: the gate whose "no" the post answers.
    [(gate, _)] = [(n, a) for n in confirm.child("steps").walk() for a in n.calls("input")]
    assert gate.line < statement.line
    # The Release stage's post rolls back and gives back nothing: its steps give the lock back themselves.
    release = next(s for s in pipeline.walk() if s.is_block and s.name == "stage" and s.stage_name() == "Release")
    assert [argv[1] for _, argv in step_calls(release.child("post"))] == ["rollback"]
    assert not pipeline.child("post").children("unsuccessful")


def test_reports_are_published_and_archived_in_post(pipeline: groovy.Node) -> None:
    always = pipeline.child("post").child("always")
    [junit] = [a for n in always.walk() for a in n.calls("junit")]
    assert junit.text("testResults") == "reports/*.xml"
    [archive] = [a for n in always.walk() for a in n.calls("archiveArtifacts")]
    artifacts = archive.text("artifacts")
    assert "reports/**" in artifacts and ".pipeline-steps/state/**" in artifacts


def test_a_failure_after_switch_rolls_back(pipeline: groovy.Node) -> None:
    rollbacks = [(s, argv) for s, argv in step_calls(pipeline) if argv[1] == "rollback"]
    assert len(rollbacks) == 1
    [(statement, argv)] = rollbacks
    assert groovy.in_post_condition(statement, "unsuccessful", "failure")
    assert options(argv[2:]) == {"-c": "$CONFIG", "--state": STATE}
    guard = [a for a in statement.ancestors() if a.name == "if"]
    assert guard and "env . PUBLIC_SWITCHED == true" in guard[0].text()
    # The flag is raised once Switch has switched, and lowered when Verify Prod passed or switched back itself.
    switch_stage, verify_stage = stage(pipeline, "Switch"), stage(pipeline, "Verify Prod")
    [(switch_step, _)] = step_calls(switch_stage)
    raised = [n for n in switch_stage.walk() if "env . PUBLIC_SWITCHED =" in n.text() and n.line > switch_step.line]
    assert raised and "true" in raised[0].text()
    lowered = [n for n in verify_stage.walk() if "env . PUBLIC_SWITCHED = false" in n.text()]
    assert lowered
    condition = next(a for a in lowered[0].ancestors() if a.name == "if").text()
    assert "status == 0" in condition and "status == 3" in condition  # 3: verify-prod rolled back itself


def test_the_verify_prod_exit_code_is_acted_on(pipeline: groovy.Node) -> None:
    [(_, _, arguments)] = groovy.sh_calls(stage(pipeline, "Verify Prod"))
    assert arguments.literal("returnStatus") is True
    errors = [n for n in stage(pipeline, "Verify Prod").walk() if n.calls("error")]
    assert errors and "status != 0" in next(a for a in errors[0].ancestors() if a.name == "if").text()


def test_the_parser_sees_what_the_file_says(tmp_path: Path) -> None:
    """The checks above are only as good as the reading: a double-quoted sh and a stage out of order show."""
    text = JENKINSFILE.read_text()
    [line] = [line for line in text.splitlines() if "sh 'pipeline-steps step deploy " in line]
    indent, _, command = line.partition("sh '")
    gstring = command.removesuffix("'").replace('"', '\\"').replace("$CONFIG", "${params.CONFIG}")
    broken = text.replace(line, f'{indent}sh "{gstring}"')
    statements = [s for s, script, _ in groovy.sh_calls(groovy.parse(broken)) if script.quote == '"']
    assert len(statements) == 1
    swapped = text.replace("stage('Check Env')", "stage('TMP')").replace("stage('Deploy')", "stage('Check Env')")
    names = [
        s.stage_name() for s in groovy.leaf_stages(groovy.parse(swapped.replace("stage('TMP')", "stage('Deploy')")))
    ]
    assert names != list(STAGES.values())
