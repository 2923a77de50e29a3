"""confirm: the gate between verify-staged and switch, where a person decides.

Modes: `auto` (no gate) or --yes; `prompt` (a terminal question); `jenkins` and `github` (the CI's own
gate decides after this step: the step notifies and hands over); `wait` (the step waits until
`pipeline-steps approve|reject` records a decision on the cluster). Every mode but auto can e-mail.

`prompt` and `wait` wait at most `confirm.timeout`; then `confirm.on_timeout` decides (reject by default).
Whatever stops the release here (a rejection, a timeout, an approval by someone not in `confirm.approvers`)
ends the run before switch: the public endpoint is untouched and the exit code is REJECTED.
"""

from __future__ import annotations

import contextlib

from pipeline_steps import approvals, release_lock
from pipeline_steps.ci.gate_timeout import GATE_TIMEOUT_ENV, gate_outlives_lock
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ApprovalRejected, ConfigError, NotificationError, PipelineError
from pipeline_steps.notify.approval_message import ApprovalRequest, approval_link, build_message
from pipeline_steps.notify.mail_settings import MailSettings
from pipeline_steps.notify.smtp import send_mail
from pipeline_steps.report import CheckResult, StepStatus
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.bluegreen import BlueGreen
from pipeline_steps.strategies.workloads import service_url


def _mail_settings(ctx: ReleaseContext) -> MailSettings | None:
    mail = ctx.config.confirm.mail
    return None if mail is None else mail.with_password_from(ctx.env)


def plan(ctx: ReleaseContext) -> Plan:
    settings = ctx.config.confirm
    target = ctx.facts.target_role
    if ctx.facts.already_live:
        return Plan("this release is already public: nothing to confirm", noop=True)
    if settings.mode == "auto" or ctx.assume_yes:
        return Plan(
            "approved without a gate (" + ("--yes" if ctx.assume_yes else "confirm.mode auto") + ")",
            noop=True,
            facts={"approval": "auto"},
        )
    if settings.mode in ("jenkins", "github"):
        gate = gate_outlives_lock(ctx.env.get(GATE_TIMEOUT_ENV), release_lock.duration_for(ctx.config))
        if gate:
            ctx.warn(gate)
    mail = _mail_settings(ctx)
    changes = [f"e-mail {', '.join(mail.recipients)}"] if mail else []
    if mail and mail.security.value == "none":
        ctx.warn(f"confirm.mail.security is none: the approval e-mail goes to {mail.host} unencrypted")
    gate = {
        "prompt": f"ask on the terminal (up to {settings.timeout_s:.0f}s)",
        "jenkins": "hand over to the Jenkins input step",
        "github": "hand over to the GitHub environment's reviewers",
        "wait": f"wait up to {settings.timeout_s:.0f}s for `pipeline-steps approve`",
    }[settings.mode]
    return Plan(f"{gate} before role {target} goes public", [*changes, gate])


def _preview_url(ctx: ReleaseContext) -> str:
    """The staged role's test URL: what verify-staged used, or (no staged checks) its test Service's address."""
    if ctx.facts.preview_url:
        return ctx.facts.preview_url
    if ctx.config.strategy != "bluegreen" or not ctx.facts.target_role:
        return ""
    try:
        name = BlueGreen(ctx).test_service(ctx.facts.target_role)
        return (service_url(ctx.cluster.get("v1", "Service", name)) or "") if name else ""
    except PipelineError:
        return ""  # the e-mail goes out without it rather than not at all


def _request(ctx: ReleaseContext) -> ApprovalRequest:
    url, instructions = approval_link(
        ctx.env,
        config_path=str(ctx.config.path),
        run_id=ctx.run_id,
        mode=ctx.config.confirm.mode,
        namespace=ctx.cluster.namespace,
    )
    checks = [
        CheckResult(
            c["name"],
            c["target"],
            c["passed"],
            int(c.get("attempts") or 0),
            float(c.get("duration_s") or 0.0),
            c.get("detail", ""),
        )
        for c in ctx.facts.staged_checks
    ]
    roles = ctx.facts.roles
    active = ctx.facts.active_role or ""
    return ApprovalRequest(
        app=ctx.config.app,
        namespace=ctx.cluster.namespace,
        strategy=ctx.config.strategy,
        run_id=ctx.run_id,
        target_role=ctx.facts.target_role or "",
        active_role=active,
        old_image=", ".join((roles.get(active) or {}).get("images") or []) if active else "",
        new_image=ctx.facts.image_ref or "",
        checks=checks,
        preview_url=_preview_url(ctx),
        approve_instructions=instructions,
        approve_url=url,
    )


def _notify(ctx: ReleaseContext) -> str:
    settings = _mail_settings(ctx)
    if settings is None:
        return ""
    try:
        send_mail(settings, build_message(settings, _request(ctx)))
    except NotificationError as exc:
        if not settings.best_effort:
            raise NotificationError(f"approval e-mail not sent: {exc.message}", hint=exc.hint) from exc
        ctx.warn(f"approval e-mail not sent (best effort): {exc}")
        return "; e-mail NOT sent"
    return f"; e-mailed {', '.join(settings.recipients)}"


def _timed_out(ctx: ReleaseContext, mailed: str) -> Outcome:
    settings = ctx.config.confirm
    if settings.on_timeout == "approve":
        ctx.facts.approval = "approved by confirm.on_timeout"
        return Outcome(f"no decision in {settings.timeout_s:.0f}s: approved by confirm.on_timeout{mailed}")
    return Outcome(
        f"no decision in {settings.timeout_s:.0f}s: rejected (confirm.on_timeout: reject); public traffic "
        f"untouched{mailed}",
        StepStatus.REJECTED,
        error="timed out",
    )


def _prompt(ctx: ReleaseContext) -> Outcome:
    if ctx.prompt is None:
        raise ConfigError(
            "confirm needs a decision but there is no terminal to ask on",
            field="confirm.mode",
            hint="pass --yes, or set confirm.mode to auto, wait, jenkins or github",
        )
    target = ctx.facts.target_role
    mailed = _notify(ctx)
    try:
        # A prompt raises TimeoutError when nobody answers within confirm.timeout (the CLI's does).
        approved = ctx.prompt(f"Make role {target} of {ctx.config.app} public in {ctx.cluster.namespace}?")
    except TimeoutError:
        return _timed_out(ctx, mailed)
    if approved:
        ctx.facts.approval = "approved on the terminal"
        return Outcome(f"approved on the terminal{mailed}")
    ctx.facts.approval = "rejected on the terminal"
    return Outcome(f"rejected on the terminal; public traffic untouched{mailed}", StepStatus.REJECTED, error="rejected")


def _close(ctx: ReleaseContext, comment: str) -> None:
    """Close our own request when the run stops waiting for another reason than a decision."""
    with contextlib.suppress(PipelineError):
        approvals.close_request(
            ctx.cluster,
            ctx.config.app,
            ctx.run_id,
            decision=approvals.CANCELLED,
            by=approvals.CANCEL_DECIDER,
            comment=comment,
        )


def _wait(ctx: ReleaseContext) -> Outcome:
    settings = ctx.config.confirm
    app, run_id = ctx.config.app, ctx.run_id
    approvals.open_request(ctx.cluster, app, run_id)
    try:
        mailed = _notify(ctx)
        _, instructions = approval_link(
            ctx.env, config_path=str(ctx.config.path), run_id=run_id, mode="wait", namespace=ctx.cluster.namespace
        )
        ctx.progress(f"waiting up to {settings.timeout_s:.0f}s for a decision on run {run_id}:")
        for line in instructions.splitlines():
            ctx.progress(f"  {line.strip()}")
        decision = approvals.wait_for_decision(
            ctx.cluster, app, run_id, timeout=settings.timeout_s, progress=ctx.progress
        )
    except NotificationError as exc:
        _close(ctx, f"the approval e-mail was not sent: {exc.message}")
        raise
    except (PipelineError, KeyboardInterrupt) as exc:
        if not isinstance(exc, ApprovalRejected):  # moved on to another run: that record is not ours to close
            _close(ctx, "the waiting run stopped: " + (str(exc) or type(exc).__name__))
        raise
    if decision is None:
        verdict = "approved" if settings.on_timeout == "approve" else "rejected"
        decision = approvals.close_request(
            ctx.cluster,
            app,
            run_id,
            decision=verdict,
            by=approvals.TIMEOUT_DECIDER,
            comment=f"no decision within {settings.timeout_s:.0f}s",
        )
        if decision is None:
            raise ApprovalRejected(f"approval of run {run_id} abandoned: another run took over the record")
        if decision.by == approvals.TIMEOUT_DECIDER:
            return _timed_out(ctx, mailed)
        # A person decided in the moment the wait ran out: that decision stands.
    ctx.facts.approval = f"{decision.decision} by {decision.by} at {decision.at}"
    if decision.decision == "approved":
        if not approvals.honoured(decision, settings.approvers):
            # `approve` refuses such approvers; this holds against a record written some other way.
            return Outcome(
                f"approved by {decision.by}, who is not in confirm.approvers ({', '.join(settings.approvers)}): "
                f"not honoured; public traffic untouched{mailed}",
                StepStatus.REJECTED,
                error=f"approver {decision.by} not allowed",
            )
        return Outcome(f"approved by {decision.by}{mailed}")
    why = f": {decision.comment}" if decision.comment else ""
    return Outcome(
        f"{decision.decision} by {decision.by}{why}; public traffic untouched{mailed}",
        StepStatus.REJECTED,
        error=decision.comment or decision.decision,
    )


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    settings = ctx.config.confirm
    if settings.mode == "prompt":
        return _prompt(ctx)
    if settings.mode in ("jenkins", "github"):
        mailed = _notify(ctx)
        gate = "the Jenkins input step" if settings.mode == "jenkins" else "the GitHub environment's reviewers"
        return Outcome(f"{gate} decide{mailed}", StepStatus.AWAITING_APPROVAL, plan.changes)
    return _wait(ctx)
