"""The release steps, in the order a pipeline runs them."""

from __future__ import annotations

from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps.steps import check_env, confirm, deploy, post_clean, pre_clean, prepare_image, switch, verify
from pipeline_steps.steps.base import Outcome, Step

STEPS: tuple[Step, ...] = (
    Step("pre-clean", pre_clean.plan, pre_clean.execute, needs_cluster="what an earlier run left behind"),
    Step("prepare-image", prepare_image.plan, prepare_image.execute),
    Step(
        "check-env",
        check_env.plan,
        check_env.execute,
        read_only=True,
        needs_cluster="which role is public and what each role runs",
    ),
    Step("deploy", deploy.plan, deploy.execute, changes_cluster=True),
    Step("verify-staged", verify.plan_staged, verify.execute_staged),
    Step("confirm", confirm.plan, confirm.execute, changes_cluster=True),
    Step(
        "switch",
        switch.plan,
        switch.execute,
        changes_cluster=True,
        needs_cluster="which role the public Service selects",
    ),
    Step("verify-prod", verify.plan_prod, verify.execute_prod, changes_cluster=True),
    Step(
        "post-clean",
        post_clean.plan,
        post_clean.execute,
        changes_cluster=True,
        needs_cluster="what the old role runs",
    ),
)
assert tuple(step.name for step in STEPS) == STEP_NAMES

__all__ = ["STEPS", "STEP_NAMES", "Outcome", "Step"]
