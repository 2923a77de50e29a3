"""The verbs beside a release: status, rollback, unlock, approve, reject, and the RBAC the CI identity needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_steps import approvals, release_lock
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ConfigError, LockHeld
from pipeline_steps.session import ReleaseOptions, config_path, load_release_config
from pipeline_steps.state import RunState
from pipeline_steps.strategies import strategy_for


def _unlock(ctx: ReleaseContext, *, force: bool) -> dict[str, Any]:
    app, namespace = ctx.config.app, ctx.cluster.namespace
    holder = release_lock.current_holder(ctx.cluster, app)
    if holder is None:
        return {"unlocked": False, "holder": None, "summary": f"no run holds the release lock of {app}"}
    if holder != ctx.run_id and not force:
        raise LockHeld(
            f"the release lock of {app} in namespace {namespace} is held by run {holder}, not by run {ctx.run_id}",
            hint="pass --run-id of the holder, or --force if that run is known to be dead",
        )
    released = release_lock.release(ctx.cluster, app, holder)
    ctx.progress(f"gave back the release lock of {app}, held by run {holder}" if released else "the lock changed hands")
    return {"unlocked": released, "holder": holder}


def status(ctx: ReleaseContext) -> dict[str, Any]:
    """Both roles (or the app's Deployments), their images and readiness, and which is public."""
    return strategy_for(ctx).status()


def rollback(ctx: ReleaseContext, *, force: bool = False) -> dict[str, Any]:
    """The previous release back in public; refused while another run is in switch or verify-prod."""
    strategy = strategy_for(ctx)
    if not force:
        release_lock.check_no_switch_in_progress(ctx.cluster, ctx.config.app, ctx.run_id)
    plan = strategy.plan_rollback()
    if ctx.dry_run:
        return {"planned": plan.summary, "changes": plan.changes}
    done = strategy.rollback(plan)
    ctx.progress(done.summary)
    return {"rolled_back": done.summary, **done.facts}


def unlock(ctx: ReleaseContext, *, force: bool = False) -> dict[str, Any]:
    """Give back the app's release lock held by this run (any run's, with `force`)."""
    return _unlock(ctx, force=force)


def decide(
    ctx: ReleaseContext,
    decision: str,
    *,
    run_id: str | None,
    approver: str | None,
    comment: str = "",
    fallback_approver: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Record `approved` or `rejected` for a run waiting in confirm mode `wait`, in the name of whoever the
    credentials authenticate as."""
    run_id = run_id or ctx.env.get("PIPELINE_STEPS_RUN_ID")
    if not run_id:
        raise ConfigError("--run-id is required", field="--run-id", hint="the run id is in the e-mail and the log")
    recorded = approvals.record_decision(
        ctx.cluster,
        ctx.config.app,
        run_id=run_id,
        decision=decision,
        approver=approver_of(ctx, approver, fallback_approver),
        allowed=ctx.config.confirm.approvers,
        comment=comment,
    )
    return dataclasses.asdict(recorded)


def approver_of(ctx: ReleaseContext, named: str | None, fallback: Callable[[], str] | None) -> str:
    """The approver is who the credentials authenticate as (SelfSubjectReview). Another name (--approver) is
    recorded only for credentials the cluster lets act as that user (impersonation, as `kubectl --as`): they
    could decide as that user anyway. A cluster without SelfSubjectReview (before 1.28) takes the name given."""
    from pipeline_steps.kube import identity  # noqa: PLC0415

    me = identity.authenticated(ctx.cluster)
    if me is None:
        if named:
            return named
        if fallback is None:
            raise ConfigError("cannot tell who decides", field="--approver", hint="pass --approver NAME")
        return fallback()
    if not named or named == me.username or identity.may_impersonate(ctx.cluster, named):
        return named or me.username
    raise ConfigError(
        f"these credentials are {me.username}, who may not decide in the name of {named}",
        field="--approver",
        hint="leave out --approver: the decision is recorded in the name the cluster authenticates",
    )


def rbac(
    options: ReleaseOptions,
    env: Mapping[str, str],
    *,
    service_account: str = "pipeline-steps",
    user: str | None = None,
    role_name: str = "pipeline-steps",
    approvers: bool = False,
    approver_users: tuple[str, ...] = (),
    approver_groups: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The least-privilege Role and RoleBinding the CI identity needs: the steps' own calls, plus applying the
    kinds the release's manifests hold (when a pipeline.yaml is given or found). With `approvers`, also the
    approvers' Role (their app's approval record only) and the admission policy that lets only them decide."""
    from pipeline_steps.kube import permissions  # noqa: PLC0415
    from pipeline_steps.kube.offline import OfflineCluster  # noqa: PLC0415
    from pipeline_steps.strategies.workloads import render  # noqa: PLC0415

    granted = list(permissions.STEP_PERMISSIONS)
    namespace = options.namespace
    path = config_path(options, env)
    if options.config or env.get("PIPELINE_STEPS_CONFIG") or path.exists():
        config = load_release_config(options, env)
        namespace = namespace or config.namespace
        ctx = ReleaseContext(
            config=config,
            cluster=OfflineCluster(config.namespace),
            state=RunState(config.app, "rbac", config.strategy),
            workspace=Path.cwd(),
            env=env,
            offline=True,
        )
        roles = list(config.bluegreen.roles) if config.strategy == "bluegreen" else [None]
        kinds = {(m.api_version, m.kind) for role in roles for m in render(ctx, role, names_only=True)}
        granted += permissions.manifest_permissions(sorted(kinds))
        granted += _access_permissions(ctx, roles)
    if not namespace:
        raise ConfigError("which namespace?", field="--namespace", hint="pass --namespace NS, or -c pipeline.yaml")
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    if user:
        subject = {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
    manifests = permissions.role_manifests(namespace, granted, name=role_name, subject=subject)
    if approvers:
        manifests += _approver_manifests(options, env, namespace, approver_users, approver_groups)
    return manifests


def _approver_manifests(
    options: ReleaseOptions, env: Mapping[str, str], namespace: str, users: tuple[str, ...], groups: tuple[str, ...]
) -> list[dict[str, Any]]:
    from pipeline_steps.approval_policy import approver_manifests  # noqa: PLC0415

    path = config_path(options, env)
    if not (options.config or env.get("PIPELINE_STEPS_CONFIG") or path.exists()):
        raise ConfigError("the approvers' objects name the app's approval record", field="--approvers",
                          hint="pass -c pipeline.yaml")  # fmt: skip
    config = load_release_config(options, env)
    users = users or tuple(config.confirm.approvers)
    if not users and not groups:
        raise ConfigError(
            "who approves?",
            field="--approvers",
            hint="list them under confirm.approvers, or pass --approver-user NAME / --approver-group GROUP",
        )
    return approver_manifests(config.app, namespace, users=users, groups=groups, role_name=f"{config.app}-approvers")


def _access_permissions(ctx: ReleaseContext, roles: Sequence[str | None]) -> list[Any]:
    """What the stages' access modes need (services/proxy, pods/portforward), for the stages that have checks."""
    from pipeline_steps.checks.access import modes_in_use  # noqa: PLC0415
    from pipeline_steps.kube.permissions import ACCESS_PERMISSIONS  # noqa: PLC0415
    from pipeline_steps.strategies.bluegreen import BlueGreen  # noqa: PLC0415
    from pipeline_steps.strategies.workloads import render  # noqa: PLC0415

    config = ctx.config
    manifests = [m for role in roles for m in render(ctx, role, names_only=True) if m.kind == "Service"]
    types = {m.name: str((m.body.get("spec") or {}).get("type") or "ClusterIP") for m in manifests}
    strategy = strategy_for(ctx)
    if isinstance(strategy, BlueGreen):
        staged = {str(role): strategy.test_service(str(role)) for role in roles}
    else:
        staged = {"": strategy.staged_service()}
    services = {
        "staged": staged if config.verify_staged else {},
        "prod": {"": strategy.public_service()} if config.verify_prod else {},
    }
    access = {"staged": config.access.staged, "prod": config.access.prod}
    modes = modes_in_use(access, services, types)
    return [ACCESS_PERMISSIONS[mode] for mode in sorted(modes) if mode in ACCESS_PERMISSIONS]
