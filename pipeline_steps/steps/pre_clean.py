"""pre-clean: remove leftovers of an earlier, aborted run of this app, and nothing else."""

from __future__ import annotations

import shutil

from pipeline_steps import release_lock
from pipeline_steps.context import ReleaseContext
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies.base import Plan


def plan(ctx: ReleaseContext) -> Plan:
    leftovers = []
    previous = ctx.facts.previous_run
    # Only this run's own folder and that of the unfinished run it replaces: another run of the app (in
    # another namespace or cluster, or waiting for the lock) keeps its files.
    rendered = [ctx.rendered_dir(run) for run in (ctx.run_id, previous) if run and ctx.rendered_dir(run).exists()]
    leftovers += [f"remove rendered manifests {path}" for path in rendered]
    if previous:
        leftovers.append(f"forget the state of run {previous}")
    lock = release_lock.stale_lock(ctx.cluster, ctx.config.app, {ctx.run_id, *([previous] if previous else [])})
    if lock is not None:
        whose = "this run's own" if lock.holder == ctx.run_id else f"run {lock.holder}'s"
        leftovers.append(f"remove {whose} release lock Lease/{release_lock.lease_name(ctx.config.app)}")
    if not leftovers:
        return Plan("no leftovers of an earlier run", noop=True)
    return Plan(
        "remove leftovers of an earlier run",
        leftovers,
        details={"stale_lock_holder": lock.holder if lock else None, "rendered": [str(p) for p in rendered]},
    )


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    for path in plan.details.get("rendered", []):
        shutil.rmtree(path, ignore_errors=True)
    ctx.facts.previous_run = None
    holder = plan.details.get("stale_lock_holder")
    if holder:
        # Only the lock that was read, still held by that run: a run that took over meanwhile keeps it.
        release_lock.release(ctx.cluster, ctx.config.app, str(holder))
    return Outcome(plan.summary, changes=plan.changes)
