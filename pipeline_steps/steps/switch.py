"""switch: re-point the public Service at the new role once it is fully available; done when the
Service's EndpointSlices list only the new role's ready pods. Idempotent."""

from __future__ import annotations

from pipeline_steps.context import ReleaseContext
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.base import Plan


def plan(ctx: ReleaseContext) -> Plan:
    return strategy_for(ctx).plan_switch()


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    done = strategy_for(ctx).switch(plan)
    ctx.facts.update(done.data)
    return Outcome(done.summary, changes=done.changes)
