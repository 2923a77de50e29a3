"""check-env: read the cluster: which role is public, which is idle, what each runs, what an earlier run
left half-done. Changes nothing."""

from __future__ import annotations

from pipeline_steps.context import ReleaseContext
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.base import Plan


def plan(ctx: ReleaseContext) -> Plan:
    return strategy_for(ctx).inspect()


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    return Outcome(plan.summary)
