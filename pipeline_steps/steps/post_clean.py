"""post-clean: keep the old role for rollback, update it as a hot backup, or scale it down; remove the
run's temporary files."""

from __future__ import annotations

import shutil

from pipeline_steps.context import ReleaseContext
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.base import Plan


def plan(ctx: ReleaseContext) -> Plan:
    result = strategy_for(ctx).plan_post_clean()
    if ctx.rendered_dir().exists():
        result.changes.append("remove rendered manifests")
        result.noop = False
    return result


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    summary = plan.summary
    if "old_role" in plan.details or plan.details.get("give_back"):
        summary = strategy_for(ctx).post_clean(plan).summary
    shutil.rmtree(ctx.rendered_dir(), ignore_errors=True)
    ctx.state.finished = True
    return Outcome(summary, changes=plan.changes)
