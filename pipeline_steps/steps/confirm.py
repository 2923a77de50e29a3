"""confirm: the gate between verify-staged and switch, where a person decides.

Modes: `auto` (no gate) or --yes; `prompt` (a terminal question); `jenkins` and `github` (the CI's own
gate decides after this step: the step notifies and hands over); `wait` (the step waits until
`pipeline-steps approve|reject` records a decision on the cluster). Every mode but auto can e-mail.
"""

from __future__ import annotations

from pipeline_steps import approvals
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ConfigError, NotificationError
from pipeline_steps.notify.approval_message import ApprovalRequest, approval_link, build_message
from pipeline_steps.notify.mail_settings import MailSettings
from pipeline_steps.notify.smtp import send_mail
from pipeline_steps.report import CheckResult, StepStatus
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies.base import Plan


def _mail_settings(ctx: ReleaseContext) -> MailSettings | None:
    mail = ctx.config.confirm.mail
    if mail is None:
        return None
    return MailSettings.from_mapping(mail, source=str(ctx.config.path), env=ctx.env)


def plan(ctx: ReleaseContext) -> Plan:
    settings = ctx.config.confirm
    target = ctx.facts.get("target_role")
    if ctx.facts.get("already_live"):
        return Plan("this release is already public: nothing to confirm", noop=True)
    if settings.mode == "auto" or ctx.assume_yes:
        return Plan(
            "approved without a gate (" + ("--yes" if ctx.assume_yes else "confirm.mode auto") + ")",
            noop=True,
            data={"approval": "auto"},
        )
    mail = _mail_settings(ctx)
    changes = [f"e-mail {', '.join(mail.recipients)}"] if mail else []
    gate = {
        "prompt": "ask on the terminal",
        "jenkins": "hand over to the Jenkins input step",
        "github": "hand over to the GitHub environment's reviewers",
        "wait": f"wait up to {settings.timeout_s:.0f}s for `pipeline-steps approve`",
    }[settings.mode]
    return Plan(f"{gate} before role {target} goes public", [*changes, gate])


def _request(ctx: ReleaseContext) -> ApprovalRequest:
    url, instructions = approval_link(ctx.env, config_path=str(ctx.config.path), run_id=ctx.run_id)
    checks = [
        CheckResult(c["name"], c["target"], c["passed"], 0, 0.0, c.get("detail", ""))
        for c in ctx.facts.get("staged_checks") or []
    ]
    roles = ctx.facts.get("roles") or {}
    active = ctx.facts.get("active_role") or ""
    return ApprovalRequest(
        app=ctx.config.app,
        namespace=ctx.cluster.namespace,
        strategy=ctx.config.strategy,
        run_id=ctx.run_id,
        target_role=str(ctx.facts.get("target_role") or ""),
        active_role=active,
        old_image=", ".join((roles.get(active) or {}).get("images") or []) if active else "",
        new_image=str(ctx.facts.get("image_ref") or ""),
        checks=checks,
        preview_url=str(ctx.facts.get("preview_url") or ""),
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
            raise
        ctx.progress(f"warning: approval e-mail not sent (best effort): {exc}")
        return "; e-mail NOT sent"
    return f"; e-mailed {', '.join(settings.recipients)}"


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    settings = ctx.config.confirm
    target = ctx.facts.get("target_role")
    if settings.mode == "prompt":
        if ctx.prompt is None:
            raise ConfigError(
                "confirm needs a decision but there is no terminal to ask on",
                field="confirm.mode",
                hint="pass --yes, or set confirm.mode to auto, wait, jenkins or github",
            )
        mailed = _notify(ctx)
        if ctx.prompt(f"Make role {target} of {ctx.config.app} public in {ctx.cluster.namespace}?"):
            ctx.facts["approval"] = "approved on the terminal"
            return Outcome(f"approved on the terminal{mailed}")
        return Outcome(f"rejected on the terminal{mailed}", StepStatus.REJECTED, error="rejected")
    if settings.mode in ("jenkins", "github"):
        mailed = _notify(ctx)
        gate = "the Jenkins input step" if settings.mode == "jenkins" else "the GitHub environment's reviewers"
        return Outcome(f"{gate} decide{mailed}", StepStatus.AWAITING_APPROVAL, plan.changes)
    approvals.open_request(ctx.cluster, ctx.config.app, ctx.run_id)
    mailed = _notify(ctx)
    ctx.progress(
        f"waiting for a decision on run {ctx.run_id}: pipeline-steps approve -c {ctx.config.path} --run-id {ctx.run_id}"
    )
    decision = approvals.wait_for_decision(
        ctx.cluster, ctx.config.app, ctx.run_id, timeout=settings.timeout_s, progress=ctx.progress
    )
    if decision is None:
        if settings.on_timeout == "approve":
            return Outcome(f"no decision in {settings.timeout_s:.0f}s: approved by confirm.on_timeout{mailed}")
        return Outcome(
            f"no decision in {settings.timeout_s:.0f}s: rejected{mailed}", StepStatus.REJECTED, error="timed out"
        )
    ctx.facts["approval"] = f"{decision.decision} by {decision.by} at {decision.at}"
    if decision.decision == "approved":
        return Outcome(f"approved by {decision.by}{mailed}")
    return Outcome(f"rejected by {decision.by}{mailed}", StepStatus.REJECTED, error=decision.comment or "rejected")
