"""The Jenkinsfile and a team's Jenkinsfile on the shared library (examples/jenkins/Jenkinsfile, which calls
blueGreenRelease), run by Jenkins' own interpreter (groovy-cps), with a stand-in `pipeline-steps` that records each
call: which commands each build runs, in which stage, with which arguments and environment, under which Jenkins
behaviours (first build of a job, rejected or timed-out approval, abort, a failing verify-prod, dry run, builds
racing for the lock, Restart from Stage). Both files must behave the same.
tests/jenkins/test_release_on_sandbox.py runs the release scenarios with the real command line on the sandbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.cli import build_parser
from pipeline_steps.step_names import STEP_NAMES
from tests.jenkins.harness import Jenkins, stage_status
from tests.jenkins.scenario import EXAMPLE, JENKINSFILE, STEP_STAGES, Setup, build, ran, run, words

STEPS = [f"step {name}" for name in STEP_NAMES]
STATE = ".pipeline-steps/state/shop.json"


#: The approvers each file names: APPROVERS in the Jenkinsfile, `approvers:` in the example.
APPROVERS = {JENKINSFILE: "release-approvers", EXAMPLE: "shop-release-approvers"}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup.create(tmp_path)


@pytest.fixture(params=[JENKINSFILE, EXAMPLE], ids=["Jenkinsfile", "library"])
def pipeline(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def one(calls: list[dict[str, Any]], first_word: str) -> dict[str, Any]:
    [found] = [call for call in calls if call["argv"][0] == first_word]
    return found


def config_seen(call: dict[str, Any]) -> str | None:
    """The config file the command line reads: -c, else PIPELINE_STEPS_CONFIG (pipeline_steps.session)."""
    argv: list[str] = call["argv"]
    if "-c" in argv:
        return argv[argv.index("-c") + 1]
    env: dict[str, str] = call["env"]
    return env.get("PIPELINE_STEPS_CONFIG")


def stage_of(call: dict[str, Any]) -> str:
    """The stage a call ran in (STAGE_NAME, which declarative sets in every stage)."""
    stage: str = call["env"]["STAGE_NAME"]
    return stage


def test_an_approved_build_runs_each_step_once_in_its_own_stage(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    [done] = run(jenkins, setup, build(pipeline, params={"IMAGE": "registry.example.com/shop:1.4"}))
    assert done["result"] == "SUCCESS", done["log"]
    assert ran(done) == STEPS
    for step, call in zip(STEP_NAMES, done["cli"], strict=True):
        assert stage_of(call) == STEP_STAGES[step]
        assert call["argv"][:2] == ["step", step]
        assert "--state" in call["argv"] and call["argv"][call["argv"].index("--state") + 1] == STATE
        assert call["argv"][-4:] == ["--junit-xml", f"reports/{step}.xml", "--report", f"reports/{step}.json"]
        assert call["env"]["PIPELINE_STEPS_RUN_ID"] == "jenkins-release-shop-1"  # BUILD_TAG, for every step
        assert call["env"]["PIPELINE_STEPS_IMAGE"] == "registry.example.com/shop:1.4"
        assert call["env"]["PIPELINE_STEPS_CONFIRM_MODE"] == "jenkins"
        assert "--run-id" not in call["argv"]
    assert all(status == "SUCCESS" for status in stage_status(done).values())
    # The state crossed agents in the stash: Stage, the Confirm node, Release and the post's node.
    assert done["allocations"] == 4
    assert [m for m in done["milestones"]] == sorted(set(done["milestones"])) and done["milestones"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_every_command_is_one_the_cli_accepts(jenkins: Jenkins, setup: Setup, pipeline: Path, dry_run: bool) -> None:
    builds = run(
        jenkins,
        setup,
        build(pipeline, params={"DRY_RUN": dry_run}),
        build(pipeline, abortAt="Verify Prod", params={"DRY_RUN": dry_run}),
    )
    parser = build_parser()
    for done in builds:
        for call in done["cli"]:
            try:
                parser.parse_args(call["argv"])
            except SystemExit:
                pytest.fail(f"the CLI refuses pipeline-steps {' '.join(call['argv'])}")
            assert ("--dry-run" in call["argv"]) == (dry_run and call["argv"][0] == "step")


def test_every_sh_is_a_constant_text_inside_the_kubeconfig_binding(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    """No Groovy interpolation into a script (Jenkins warns about it: secrets and parameters would be part of the
    text); the kubeconfig bound around every command, the SMTP password only around confirm."""
    rejected = {"ReleaseApproval": {"answer": "reject", "by": "alice"}}
    builds = run(
        jenkins, setup, build(pipeline), build(pipeline, inputs=rejected), build(pipeline, abortAt="Verify Prod")
    )
    scripts = [r for done in builds for r in done["sh"]]
    assert {words(call) for done in builds for call in done["cli"]} >= {"rollback", "unlock"}
    for record, call in zip(scripts, [call for done in builds for call in done["cli"]], strict=True):
        assert not record["gstring"], record["script"]
        if pipeline == JENKINSFILE:  # one pipeline-steps command per sh, nothing else
            assert record["script"].startswith("pipeline-steps ") and not set(record["script"]) & set(";&|`\n<>")
        else:  # pipelineStep's one script, whatever the step
            assert record["script"] == scripts[0]["script"]
        assert "KUBECONFIG" in record["credentials"], record["script"]
        assert ("SMTP_PASSWORD" in record["credentials"]) == (call["argv"][:2] == ["step", "confirm"]), call["argv"]
    kubeconfigs = {call["env"]["KUBECONFIG"] for done in builds for call in done["cli"]}
    assert all("@tmp/secretFiles/" in path for path in kubeconfigs)  # a copy per binding, gone afterwards
    assert not any(Path(path).exists() for path in kubeconfigs)


def test_the_approval_waits_without_an_executor_for_the_approvers(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    [done] = run(jenkins, setup, build(pipeline))
    [approval] = done["inputs"]
    assert approval["id"] == "ReleaseApproval"
    assert approval["submitter"] == APPROVERS[pipeline]
    assert not approval["executorHeld"]
    assert approval["timeoutMinutes"] > 0
    assert approval["stage"] == "Confirm"
    assert any("approved by alice" in line.lower() for line in done["log"])
    # The e-mail went out from an agent before the input: confirm ran first, in its own short node.
    assert stage_of(done["cli"][STEPS.index("step confirm")]) == "Confirm"


def test_someone_who_is_not_an_approver_cannot_approve(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    """The harness checks `submitter` as Jenkins does: the scenario cannot approve as mallory."""
    with pytest.raises(Exception, match="mallory may not approve"):
        run(jenkins, setup, build(pipeline, inputs={"ReleaseApproval": {"answer": "approve", "by": "mallory"}}))


@pytest.mark.parametrize("answer", ["reject", "timeout", "abort"])
def test_a_gate_that_says_no_aborts_before_switch_and_gives_back_the_lock(
    jenkins: Jenkins, setup: Setup, pipeline: Path, answer: str
) -> None:
    [done] = run(jenkins, setup, build(pipeline, inputs={"ReleaseApproval": {"answer": answer, "by": "alice"}}))
    assert done["result"] == "ABORTED"
    assert ran(done) == [*STEPS[: STEPS.index("step confirm") + 1], "unlock"]
    unlock = one(done["cli"], "unlock")
    assert "--force" not in unlock["argv"]  # only the lock this build's run id holds
    assert unlock["env"]["PIPELINE_STEPS_RUN_ID"] == "jenkins-release-shop-1"
    assert config_seen(unlock) == "deploy/pipeline.yaml"
    status = stage_status(done)
    assert status["Confirm"] == "ABORTED"
    assert status["Release"] == "SKIPPED_FOR_FAILURE"


def test_an_abort_after_switch_rolls_back_and_gives_back_the_lock(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    [done] = run(jenkins, setup, build(pipeline, abortAt="Verify Prod"))
    assert done["result"] == "ABORTED"
    assert ran(done) == [*STEPS[: STEPS.index("step switch") + 1], "rollback", "unlock"]
    rollback = one(done["cli"], "rollback")
    assert rollback["argv"][rollback["argv"].index("--state") + 1] == STATE
    assert stage_of(rollback) == "Release"
    assert stage_of(one(done["cli"], "unlock")) == "Declarative: Post Actions"


def test_an_abort_between_confirm_and_switch_gives_back_the_lock(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    """Approved, then aborted before Switch ran (say, while Release waited for an agent): nothing was switched, so
    no rollback; and no step of ours was running to give back the cluster's lock, so the build's post does."""
    [done] = run(jenkins, setup, build(pipeline, abortAt="Switch"))
    assert done["result"] == "ABORTED"
    assert ran(done) == [*STEPS[: STEPS.index("step confirm") + 1], "unlock"]


@pytest.mark.parametrize(("code", "rolls_back"), [(3, False), (1, True)])
def test_a_failing_verify_prod(jenkins: Jenkins, setup: Setup, pipeline: Path, code: int, rolls_back: bool) -> None:
    """Exit 3: the step switched traffic back itself, so a rollback would put the failed release back in public.
    Any other failure leaves the new role public: the post rolls back."""
    [done] = run(jenkins, setup, build(pipeline), exits={"step verify-prod": code})
    assert done["result"] == "FAILURE"
    expected = [*STEPS[: STEPS.index("step verify-prod") + 1], *(["rollback"] if rolls_back else []), "unlock"]
    assert ran(done) == expected
    assert f"pipeline-steps step verify-prod exited {code}" in done["error"]
    assert stage_status(done)["Post-clean"] == "SKIPPED_FOR_FAILURE"


def test_a_failing_step_before_switch_neither_rolls_back_nor_asks(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    [done] = run(jenkins, setup, build(pipeline), exits={"step deploy": 1})
    assert done["result"] == "FAILURE"
    assert ran(done) == [*STEPS[: STEPS.index("step deploy") + 1], "unlock"]
    assert done["inputs"] == []
    assert "exit code 1" in done["error"] or "deploy exited 1" in done["error"]


def test_a_dry_run_plans_every_step_asks_nobody_and_passes_no_milestone(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    [done] = run(jenkins, setup, build(pipeline, params={"DRY_RUN": True}))
    assert done["result"] == "SUCCESS"
    assert ran(done) == STEPS
    assert all("--dry-run" in call["argv"] for call in done["cli"])
    assert done["inputs"] == []
    assert done["milestones"] == []  # else a dry run would supersede a real release waiting for the lock


def test_the_first_build_of_a_new_job_reads_the_config(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    """On a job's first build Jenkins knows no parameters yet: `params` has the defaults but none of them is an
    environment variable (JENKINS-41929), so `$CONFIG` in a script is empty. Every command must still be told the
    config, whatever build of the job it is."""
    later = build(pipeline, after=0, params={"CONFIG": "ops/release.yaml"})
    first, second = run(jenkins, setup, build(pipeline), later, jobs={"release-shop": {"new": True}})
    assert not first["paramsInEnv"] and second["paramsInEnv"]
    assert first["result"] == second["result"] == "SUCCESS"
    assert {config_seen(call) for call in first["cli"]} == {"deploy/pipeline.yaml"}
    # The library's config is blueGreenRelease(config:), not a parameter: a CONFIG given to it is not declared.
    chosen = "ops/release.yaml" if pipeline == JENKINSFILE else "deploy/pipeline.yaml"
    assert {config_seen(call) for call in second["cli"]} == {chosen}


def test_the_reports_and_state_are_published_from_the_last_stash(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    [done] = run(jenkins, setup, build(pipeline))
    [junit] = [step for step in done["steps"] if step["step"] == "junit"]
    assert junit["args"]["testResults"] == "reports/*.xml"
    [archive] = [step for step in done["steps"] if step["step"] == "archiveArtifacts"]
    assert "reports/**" in archive["args"]["artifacts"] and ".pipeline-steps/state/**" in archive["args"]["artifacts"]
    stashes = [step["args"] for step in done["steps"] if step["step"] == "stash"]
    assert {s["name"] for s in stashes} == {"release-state"}
    assert all(".pipeline-steps/**" in s["includes"] and "reports/**" in s["includes"] for s in stashes)


def test_the_whole_build_holds_the_jenkins_lock_of_the_app(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    [done] = run(jenkins, setup, build(pipeline, abortAt="Verify Prod"))
    assert [event["event"] for event in done["locks"]] == ["acquired", "released"]
    assert {event["resource"] for event in done["locks"]} == {"release-shop"}
    [lock] = [step for step in done["steps"] if step["step"] == "lock"]
    assert lock["args"] == {"resource": "release-shop", "inversePrecedence": True}


def three_racing(pipeline: Path, *, dry_run_newest: bool = False) -> list[dict[str, Any]]:
    """#1 holds the lock and waits for its approval while #2 and then #3 queue for the lock. The approver
    answers only when no build can go on, so #1 ends first; then the lock goes to the newest waiter."""
    return [
        build(pipeline),
        build(pipeline),
        build(pipeline, params={"DRY_RUN": dry_run_newest}),
    ]


def test_an_older_build_that_gets_the_lock_after_a_newer_one_never_deploys(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    first, older, newer = run(jenkins, setup, *three_racing(pipeline))
    assert first["result"] == newer["result"] == "SUCCESS"
    assert ran(first) == ran(newer) == STEPS
    # #3 took the lock before #2 (inversePrecedence) and passed every milestone: #2, when it gets the lock,
    # is stopped by the first milestone, before it deploys into the role #3 just made its rollback target.
    assert older["result"] == "NOT_BUILT"
    assert "Superseded by release-shop#3" in older["log"]
    assert not [c for c in ran(older) if c.startswith("step")]
    order = [b["number"] for b in sorted((first, older, newer), key=lambda b: b["locks"][0]["order"])]
    assert order == [1, 3, 2]


def test_a_dry_run_never_supersedes_a_real_release(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    _, older, newer = run(jenkins, setup, *three_racing(pipeline, dry_run_newest=True))
    assert newer["result"] == "SUCCESS" and all("--dry-run" in call["argv"] for call in newer["cli"])
    assert older["result"] == "SUCCESS", older["log"]
    assert ran(older) == STEPS


def test_restart_from_confirm_finds_the_stashed_state(jenkins: Jenkins, setup: Setup, pipeline: Path) -> None:
    """The approval timed out; someone restarts the build from Confirm (declarative's Restart from Stage). The new
    build skips the stages before Confirm and needs the state stashed by the original build."""
    original, restarted = run(
        jenkins, setup,
        build(pipeline, inputs={"ReleaseApproval": {"answer": "timeout"}}),
        build(pipeline, after=0, restart={"of": 0, "stage": "Confirm"}),
    )  # fmt: skip
    assert original["result"] == "ABORTED"
    assert restarted["result"] == "SUCCESS", restarted["log"]
    assert stage_status(restarted)["Stage"] == "SKIPPED_FOR_RESTART"
    assert ran(restarted) == STEPS[STEPS.index("step confirm") :]


def test_the_approval_gate_is_announced_to_confirm_and_fits_in_the_release_lock(
    jenkins: Jenkins, setup: Setup, pipeline: Path
) -> None:
    """`step confirm` is told how long the `input` may wait (PIPELINE_STEPS_GATE_TIMEOUT), so it can warn when the
    cluster's release lock (confirm.timeout + 5 minutes, 35 by default) would expire first."""
    [done] = run(jenkins, setup, build(pipeline))
    [approval] = done["inputs"]
    [confirm] = [call for call in done["cli"] if call["argv"][:2] == ["step", "confirm"]]
    assert confirm["env"].get("PIPELINE_STEPS_GATE_TIMEOUT") == f"{approval['timeoutMinutes']}m"
    assert approval["timeoutMinutes"] <= 35
