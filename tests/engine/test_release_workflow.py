"""examples/github/release.yml run whole by act against the sandbox, as a dispatch starts it: stage -> confirm ->
release, the state file carried between the jobs by act's artifact server, the rollback and unlock jobs decided by
`needs:` results and outputs. Each path ends with what the public Service selects and what answers through it.

The confirm job's environment review is GitHub's: act runs the job as if its reviewers approved at once, and a
rejection is the checkout stand-in failing that job first (STANDIN_REVIEW_REJECTS), as GitHub fails a rejected job.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping
from typing import Any

import pytest

from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps_sandbox.cluster import Cluster
from tests.engine.act import REPO, Act, ActRun, OnEntry, command_line, descendants
from tests.engine.conftest import MakeAct
from tests.engine.observed import LEASE, V1, V2, lease_holders, selector
from tests.support.traffic import settled_images

pytestmark = pytest.mark.e2e

WORKFLOW = REPO / "examples" / "github" / "release.yml"
RUN_ID = "7171"
STATE_FILE = ".pipeline-steps/state/web.json"
#: The verify-prod check of the test app that never passes (its PROD_BODY).
FAILING_PROD_CHECK = {"PROD_BODY": "no-release-answers-this"}


@pytest.fixture
def act(make_act: MakeAct) -> Act:
    return make_act({"release.yml": WORKFLOW})


def dispatch(
    act: Act,
    namespace: str,
    *,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    runner_env: Mapping[str, str] | None = None,
    on_entry: OnEntry | None = None,
) -> ActRun:
    """The workflow started by hand with the form's inputs; the config's gate is GitHub's (confirm.mode github), and
    pipeline-steps is on the runner's PATH (the repository variable PIPELINE_STEPS_INSTALL=skip)."""
    return act.run(
        "release.yml",
        inputs={"app": "web", "image": V2, "config": "deploy/pipeline.yaml", "dry-run": str(dry_run).lower()},
        env={"NAMESPACE": namespace, "CONFIRM_MODE": "github", "GITHUB_RUN_ID": RUN_ID, **(env or {})},
        variables={"PIPELINE_STEPS_INSTALL": "skip"},
        runner_env=runner_env,
        on_entry=on_entry,
    )


def state_in(run: ActRun, artifact: str) -> dict[str, Any]:
    files = run.artifact(artifact)
    assert STATE_FILE in files, f"{artifact} holds {sorted(files)}"
    state: dict[str, Any] = json.loads(files[STATE_FILE])
    return state


def test_an_approved_release_goes_public(act: Act, cluster: Cluster, namespace: str, released_v1: str) -> None:
    run = dispatch(act, namespace)
    assert run.returncode == 0, run.text()
    assert run.jobs() == {
        "stage": "success", "confirm": "success", "release": "success",
        "unlock-on-rejection": "skipped", "rollback-on-failure": "skipped",
    }, run.text()  # fmt: skip
    assert selector(cluster, namespace)["role"] == "green"
    assert settled_images(released_v1) == {V2}
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations
    assert annotations["pipeline-steps.dev/run-id"] == RUN_ID
    assert LEASE not in lease_holders(cluster, namespace)
    # The stage job's outputs come from the action's.
    assert run.outputs("stage", "stage")["target-role"] == "green"
    # The state file went from job to job: each job's download put it where the next step reads it, and the
    # release job's state holds every step of the run, the stage job's included.
    assert STATE_FILE in run.log("confirm") and STATE_FILE in run.log("release")
    final = state_in(run, "release-state-release")
    assert final["run_id"] == RUN_ID and sorted(final["steps"]) == sorted(STEP_NAMES), final["steps"]
    assert set(final["steps"].values()) <= {"succeeded", "unchanged"}, final["steps"]
    reports = {"reports/stage.xml", "reports/confirm.xml", "reports/switch.xml", "reports/post-clean.xml"}
    assert reports <= set(run.artifact("release-state-release"))


def test_failing_prod_checks_switch_back_once_without_the_rollback_job(
    act: Act, cluster: Cluster, namespace: str, released_v1: str
) -> None:
    """verify-prod's checks fail: the step switches back itself (result rolled_back, exit 3), so the rollback job,
    which would put the failed release back in public, does not run; the unlock job does."""
    run = dispatch(act, namespace, env=FAILING_PROD_CHECK)
    assert run.returncode != 0
    assert run.jobs() == {
        "stage": "success", "confirm": "success", "release": "failure",
        "unlock-on-rejection": "success", "rollback-on-failure": "skipped",
    }, run.text()  # fmt: skip
    assert run.outputs("release", "verify-prod")["result"] == "rolled_back"
    assert run.step_result("release", "post-clean") == "skipped"
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert LEASE not in lease_holders(cluster, namespace)


def test_a_verify_prod_that_dies_after_the_switch_is_rolled_back_by_the_rollback_job(
    act: Act, cluster: Cluster, namespace: str, released_v1: str
) -> None:
    """verify-prod killed while it checks the switched traffic (a runner lost, an OOM kill): nothing switched back,
    so the rollback job runs and puts the old role back in public; the unlock job gives back the lock the killed
    step held."""
    killed: list[int] = []

    def kill_verify_prod(entry: dict[str, Any], act_pid: int) -> None:
        if killed or entry.get("jobID") != "release" or "==> verify-prod" not in str(entry.get("msg")):
            return
        for pid in descendants(act_pid):
            if "verify-prod" in command_line(pid) and any(arg.endswith("pipeline-steps") for arg in command_line(pid)):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    run = dispatch(act, namespace, env=FAILING_PROD_CHECK, on_entry=kill_verify_prod)
    assert killed, run.text()
    assert run.jobs() == {
        "stage": "success", "confirm": "success", "release": "failure",
        "unlock-on-rejection": "success", "rollback-on-failure": "success",
    }, run.text()  # fmt: skip
    assert run.outputs("release", "verify-prod")["result"] == "failed"
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert LEASE not in lease_holders(cluster, namespace)


def test_a_rejected_review_gives_back_the_lock_and_changes_nothing_public(
    act: Act, cluster: Cluster, namespace: str, released_v1: str
) -> None:
    held_when_unlocking: list[dict[str, str | None]] = []

    def look(entry: dict[str, Any], act_pid: int) -> None:
        if not held_when_unlocking and entry.get("jobID") == "unlock-on-rejection":
            held_when_unlocking.append(lease_holders(cluster, namespace))

    run = dispatch(act, namespace, runner_env={"STANDIN_REVIEW_REJECTS": "confirm"}, on_entry=look)
    assert run.returncode != 0
    assert run.jobs() == {
        "stage": "success", "confirm": "failure", "release": "skipped",
        "unlock-on-rejection": "success", "rollback-on-failure": "skipped",
    }, run.text()  # fmt: skip
    assert held_when_unlocking == [{LEASE: RUN_ID}]  # kept for the review by the stage job's run
    assert LEASE not in lease_holders(cluster, namespace)
    assert "pipeline-steps unlock" in run.log("unlock-on-rejection")
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}


def test_a_dry_run_changes_nothing_and_neither_rolls_back_nor_unlocks(
    act: Act, cluster: Cluster, namespace: str, released_v1: str
) -> None:
    run = dispatch(act, namespace, dry_run=True)
    assert run.returncode == 0, run.text()
    assert run.jobs() == {
        "stage": "success", "confirm": "success", "release": "success",
        "unlock-on-rejection": "skipped", "rollback-on-failure": "skipped",
    }, run.text()  # fmt: skip
    assert "--dry-run" in run.log("release", "switch")
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert [d.metadata.name for d in cluster.apps.list_namespaced_deployment(namespace).items] == ["web-blue"]
    assert LEASE not in lease_holders(cluster, namespace)
