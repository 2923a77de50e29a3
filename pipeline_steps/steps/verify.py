"""verify-staged and verify-prod: HTTP and command checks against the staged role's test endpoint and
the public endpoint. A failing verify-prod puts the previous release back in public by itself."""

from __future__ import annotations

from pipeline_steps.checks import CheckSpec, run_checks
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import PipelineError
from pipeline_steps.report import CheckResult, StepStatus
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.service_access import reach


def _checks(ctx: ReleaseContext, stage: str) -> list[CheckSpec]:
    return list(ctx.config.verify_staged if stage == "staged" else ctx.config.verify_prod)


def _plan(ctx: ReleaseContext, stage: str) -> Plan:
    checks = _checks(ctx, stage)
    if not ctx.config.verify_staged and not ctx.config.verify_prod:
        ctx.warn(
            "no verify checks are configured: the release goes public unverified and nothing can switch it back "
            "by itself; add checks under verify.staged and verify.prod"
        )
    if not checks:
        return Plan(f"no {stage} checks configured", noop=True)
    names = ", ".join(c.name for c in checks)
    endpoint = "test endpoint of the new role" if stage == "staged" else "public endpoint"
    summary = f"run {len(checks)} checks ({names}) against the {endpoint}"
    mode = (ctx.config.access.staged if stage == "staged" else ctx.config.access.prod).chosen_mode
    summary += f" ({mode})" if mode else " (reached as its Service's type says)"
    if ctx.offline:
        return Plan(summary + "; not run: the endpoints are on the cluster", unchecked=["the checks' answers"])
    return Plan(summary, [f"check {c.name}" for c in checks])


def _run(ctx: ReleaseContext, stage: str) -> tuple[str | None, list[CheckResult]]:
    strategy = strategy_for(ctx)
    service = strategy.staged_service() if stage == "staged" else strategy.public_service()
    checks = _checks(ctx, stage)
    with reach(ctx, stage, service, checks) as endpoint:
        url = endpoint.base_url
        if stage == "staged":
            ctx.facts.preview_url = endpoint.shown
        else:
            ctx.facts.public_url = endpoint.shown
        results = run_checks(
            checks,
            base_url=url,
            session=endpoint.session,
            on_result=lambda r: ctx.progress(f"check {r.name}: {'passed' if r.passed else 'FAILED'} {r.detail}"),
        )
    seen = [{"name": r.name, "target": r.target, "passed": r.passed, "detail": r.detail} for r in results]
    if stage == "staged":
        ctx.facts.staged_checks = seen
    else:
        ctx.facts.prod_checks = seen
    return url, results


def _failed(results: list[CheckResult]) -> list[str]:
    return [r.name for r in results if not r.passed]


def plan_staged(ctx: ReleaseContext) -> Plan:
    return _plan(ctx, "staged")


def execute_staged(ctx: ReleaseContext, plan: Plan) -> Outcome:
    url, results = _run(ctx, "staged")
    failed = _failed(results)
    if failed:
        return Outcome(
            f"{len(failed)} of {len(results)} staged checks failed ({', '.join(failed)}); public traffic untouched",
            StepStatus.FAILED,
            checks=results,
            error=f"staged checks failed: {', '.join(failed)}",
        )
    return Outcome(f"{len(results)} staged checks passed at {url}", checks=results)


def plan_prod(ctx: ReleaseContext) -> Plan:
    return _plan(ctx, "prod")


def execute_prod(ctx: ReleaseContext, plan: Plan) -> Outcome:
    try:
        url, results = _run(ctx, "prod")
    except Exception as exc:
        # The checks could not even run (no public address, the API unreachable): the new release is not
        # verified, so it does not stay public.
        results, url = [], None
        failed = [f"checks not run: {exc}"]
    else:
        failed = _failed(results)
    if not failed:
        return Outcome(f"{len(results)} prod checks passed at {url}", checks=results)
    reason = f"{len(failed)} of {len(results)} prod checks failed ({', '.join(failed)})" if results else failed[0]
    try:
        summary = strategy_for(ctx).revert(reason)
    except PipelineError as exc:
        return Outcome(str(exc), StepStatus.FAILED, checks=results, error=reason)
    return Outcome(summary, StepStatus.ROLLED_BACK, ["switch back"], checks=results, error=reason)
