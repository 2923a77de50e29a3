"""The composite action (action.yml) run by act in a user's workflow (tests/engine/workflows/action.yml) against the
sandbox: every `step` value, a dry run, a bad input, and the outputs a later step reads through expressions. After
each run, what the public Service selects and what answers through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_steps_sandbox.cluster import Cluster
from tests.engine.conftest import MakeAct
from tests.engine.observed import LEASE, V1, V2, lease_holders, seen, selector
from tests.support.traffic import settled_images

pytestmark = pytest.mark.e2e

WORKFLOW = Path(__file__).resolve().parent / "workflows" / "action.yml"
RUN_ID = "5151"
#: What the last step of job every-step prints for each step's `result` output.
STEP_RESULTS = [
    "PRE_CLEAN", "PREPARE_IMAGE", "CHECK_ENV", "DEPLOY", "VERIFY_STAGED", "CONFIRM", "SWITCH", "VERIFY_PROD",
    "POST_CLEAN", "ROLLBACK", "UNLOCK",
]  # fmt: skip


def test_every_step_value_one_after_another(
    make_act: MakeAct, cluster: Cluster, namespace: str, released_v1: str
) -> None:
    act = make_act({"action.yml": WORKFLOW})
    run = act.run(
        "action.yml",
        job="every-step",
        inputs={"image": V2},
        env={"NAMESPACE": namespace, "CONFIRM_MODE": "github", "GITHUB_RUN_ID": RUN_ID},
    )
    assert run.returncode == 0, run.text()
    assert run.jobs() == {"every-step": "success"}, run.text()
    outputs = seen(run.log("every-step"))
    results = {name: outputs.get(name) for name in STEP_RESULTS}
    assert results == dict.fromkeys(STEP_RESULTS, "ok"), run.log("every-step")
    # The outputs of the steps, read through `steps.<id>.outputs.<name>` by the last step.
    assert outputs["TARGET_ROLE"] == "green"
    assert outputs["ACTIVE_ROLE"] == "green" and outputs["PREVIOUS_ROLE"] == "blue"
    assert outputs["PREVIEW_URL"].startswith("http://")
    assert outputs["IMAGE"] == V2 and outputs["RUN_ID"] == RUN_ID
    # The step summary holds each step's table.
    assert "| switch |" in run.summary("every-step", "switch")
    # After rollback: the old role public again, answering the old version; unlock found the lock free.
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert LEASE not in lease_holders(cluster, namespace)


def test_step_all_a_bad_input_and_a_dry_run(make_act: MakeAct, cluster: Cluster, namespace: str) -> None:
    act = make_act({"action.yml": WORKFLOW})
    run = act.run(
        "action.yml",
        job="all-steps",
        inputs={"image": V2},
        env={"NAMESPACE": namespace, "CONFIRM_MODE": "github", "GITHUB_RUN_ID": RUN_ID},
    )
    assert run.returncode == 0, run.text()
    assert run.jobs() == {"all-steps": "success"}, run.text()
    outputs = seen(run.log("all-steps"))
    # `dry-run: maybe` stops the action before the command line runs: an error annotation, exit 2.
    errors = run.commands("all-steps", "error", "bad")
    assert errors == ["::error title=pipeline-steps::input dry-run must be true or false, not 'maybe'"], run.text()
    assert "exit status 2" in run.text()
    assert (outputs["BAD_OUTCOME"], outputs["BAD_CONCLUSION"], outputs["BAD_RESULT"]) == ("failure", "success", "")
    # The dry run planned against the cluster (an empty namespace: the first role is the target) and changed nothing.
    assert outputs["PLAN"] == "ok" and outputs["PLAN_TARGET_ROLE"] == "blue" and outputs["PLAN_DRY_RUN"] == "true"
    assert json.loads(run.outputs("all-steps", "plan")["report-json"])["dry_run"] is True
    # Up to confirm in a config whose gate is GitHub's: exit 4 is no failure of the step, and says so.
    stage = (outputs["STAGE"], outputs["STAGE_EXIT_CODE"], outputs["STAGE_TARGET_ROLE"])
    assert stage == ("awaiting_approval", "4", "blue"), run.log("all-steps")
    assert run.step_result("all-steps", "stage") == "success"
    assert any("awaiting approval" in notice for notice in run.commands("all-steps", "notice", "stage")), run.text()
    # From confirm on, approved: the release.
    assert (outputs["RELEASE"], outputs["ACTIVE_ROLE"], outputs["IMAGE"]) == ("ok", "blue", V2), run.log("all-steps")
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(cluster.service_url(namespace, "web")) == {V2}
    assert LEASE not in lease_holders(cluster, namespace)
