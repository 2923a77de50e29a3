"""switch: re-point the public Service at the new role once it is fully available; done when the
Service's EndpointSlices list only the new role's ready pods. Idempotent."""

from __future__ import annotations

from pipeline_steps import approvals
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ApprovalRejected, SwitchedBack
from pipeline_steps.report import StepStatus
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.base import Plan


def plan(ctx: ReleaseContext) -> Plan:
    # A stage restarted after its run's confirm said no must not switch: the decision stands for the run,
    # whether the state file says so or, with the state file lost, the approval record on the cluster.
    record = ctx.cluster.get("v1", "ConfigMap", approvals.record_name(ctx.config.app))
    refusal = approvals.blocks_switch(approvals.decision_of(record), ctx.run_id, ctx.config.confirm.approvers)
    if refusal is None and ctx.state.steps.get("confirm") == StepStatus.REJECTED.value:
        refusal = f"run {ctx.run_id} was rejected at confirm"
    if refusal:
        raise ApprovalRejected(
            f"{refusal}; it does not switch", hint="start a new run (from pre-clean) to release again"
        )
    return strategy_for(ctx).plan_switch()


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    try:
        done = strategy_for(ctx).switch(plan)
    except SwitchedBack as exc:
        ctx.facts.switched = False
        return Outcome(str(exc), StepStatus.ROLLED_BACK, ["switch back"], error=exc.message)
    ctx.facts.merge(done.facts)
    return Outcome(done.summary, changes=done.changes)
