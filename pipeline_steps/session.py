"""Opening a release from the command line's arguments: config, cluster (or none: an offline plan), run id,
state; and the maintenance verbs."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_steps import approvals, release_lock
from pipeline_steps.config import Config, Overrides, load_config
from pipeline_steps.context import Prompt, ReleaseContext
from pipeline_steps.errors import ConfigError, LockHeld
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.kube.connection import connect, no_cluster_credentials
from pipeline_steps.state import RunState, load_state, local_scope, resolve_state_path, save_state
from pipeline_steps.strategies import strategy_for


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """--set VAR=VALUE (repeatable) as a mapping."""
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"--set {item!r} is not VAR=VALUE", field="--set", hint="e.g. --set VERSION=1.2.3")
        values[name] = value
    return values


def resolve_run_id(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """A run id given by the user or by the CI system, which stays the same across a run's stages."""
    if explicit:
        return explicit
    for key in ("PIPELINE_STEPS_RUN_ID", "BUILD_TAG"):
        if env.get(key):
            return env[key]
    if env.get("GITHUB_RUN_ID"):
        return f"gh-{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    return None


def new_run_id(app: str) -> str:
    return f"{app}-{datetime.datetime.now(datetime.UTC).strftime('%Y%m%d-%H%M%S')}"


def config_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    return Path(args.config or env.get("PIPELINE_STEPS_CONFIG") or "pipeline.yaml")


#: Verbs that only read names (and record decisions): they ask only for the variables names depend on.
NAME_ONLY_VERBS = ("status", "rollback", "unlock", "approve", "reject", "rbac")


def load_release_config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    """pipeline.yaml with the environment and --set substituted, and flags over PIPELINE_STEPS_* over the file."""
    flags = Overrides(
        namespace=args.namespace,
        image=getattr(args, "image", None),
        confirm_mode=getattr(args, "confirm_mode", None),
        post_clean=getattr(args, "post_clean", None),
    )
    variables = {**env, **parse_sets(args.set)}
    names_only = getattr(args, "command", None) in NAME_ONLY_VERBS
    return load_config(config_path(args, env), variables, flags.over(Overrides.from_env(env)), names_only=names_only)


def plans_offline(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    """A dry-run with no cluster credentials anywhere plans offline. A --context names a cluster the user
    means to read: without credentials that stays an error."""
    return bool(getattr(args, "dry_run", False)) and not args.context and no_cluster_credentials(args.kubeconfig, env)


def open_release(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    fresh: bool,
    prompt: Prompt | None,
    progress: Callable[[str], None],
) -> tuple[ReleaseContext, Callable[[], None]]:
    """The context of one invocation, and how to save its state.

    `fresh` (a selection that starts at pre-clean) starts a new run; any other selection continues the run in
    the state file when it has the same run id (or none is given), and otherwise starts from what the cluster
    says. An offline plan reads no state and writes none: it is not part of a run."""
    config = load_release_config(args, env)
    run_id = resolve_run_id(args.run_id, env)
    workspace = Path.cwd()
    if plans_offline(args, env):
        from pipeline_steps.kube.offline import OfflineCluster  # noqa: PLC0415

        progress("no cluster credentials found: planning offline (render and validate; the cluster is not read)")
        ctx = ReleaseContext(
            config=config,
            cluster=OfflineCluster(config.namespace),
            state=RunState(config.app, run_id or new_run_id(config.app), config.strategy),
            workspace=workspace,
            env=env,
            dry_run=True,
            offline=True,
            assume_yes=bool(getattr(args, "yes", False)),
            progress=progress,
        )
        return ctx, lambda: None
    cluster = KubeCluster(connect(args.kubeconfig, args.context), config.namespace)
    scope = local_scope(cluster.identity, cluster.namespace, config.app)
    path = resolve_state_path(args.state, env, workspace, scope)
    previous = load_state(path)
    if previous and previous.app != config.app:
        previous = None
    if previous and not fresh and (run_id is None or run_id == previous.run_id) and not previous.finished:
        state = previous
    else:
        state = RunState(config.app, run_id or new_run_id(config.app), config.strategy)
        if previous and previous.run_id != state.run_id and not previous.finished:
            state.facts.previous_run = previous.run_id
    ctx = ReleaseContext(
        config=config,
        cluster=cluster,
        state=state,
        workspace=workspace,
        env=env,
        dry_run=bool(getattr(args, "dry_run", False)),
        assume_yes=bool(getattr(args, "yes", False)),
        prompt=prompt,
        progress=progress,
    )
    if not cluster.verifies_tls:
        ctx.warn("the kubeconfig turns off TLS verification of the API server (insecure-skip-tls-verify)")
    return ctx, lambda: save_state(path, state)


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


def maintenance(
    ctx: ReleaseContext, command: str, args: argparse.Namespace, env: Mapping[str, str], save: Callable[[], None]
) -> dict[str, Any]:
    """rollback, status, unlock, approve, reject: the answer to print, or an exit code."""
    strategy = strategy_for(ctx)
    if command == "status":
        return strategy.status()
    if command == "rollback":
        if not args.force:
            release_lock.check_no_switch_in_progress(ctx.cluster, ctx.config.app, ctx.run_id)
        plan = strategy.plan_rollback()
        if ctx.dry_run:
            return {"planned": plan.summary, "changes": plan.changes}
        done = strategy.rollback(plan)
        ctx.progress(done.summary)
        return {"rolled_back": done.summary, **done.facts}
    if command == "unlock":
        return _unlock(ctx, force=bool(args.force))
    # The command line fills in the approver (cli.default_approver) before it gets here.
    approver = str(args.approver)
    run_id = args.run_id or env.get("PIPELINE_STEPS_RUN_ID")
    if not run_id:
        raise ConfigError("--run-id is required", field="--run-id", hint="the run id is in the e-mail and the log")
    decision = approvals.record_decision(
        ctx.cluster,
        ctx.config.app,
        run_id=run_id,
        decision="approved" if command == "approve" else "rejected",
        approver=approver,
        allowed=ctx.config.confirm.approvers,
        comment=args.comment,
    )
    return dataclasses.asdict(decision)


def rbac(args: argparse.Namespace, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The least-privilege Role and RoleBinding the CI identity needs: the steps' own calls, plus applying the
    kinds the release's manifests hold (when a pipeline.yaml is given or found)."""
    from pipeline_steps.kube import permissions  # noqa: PLC0415
    from pipeline_steps.kube.offline import OfflineCluster  # noqa: PLC0415
    from pipeline_steps.strategies.workloads import render  # noqa: PLC0415

    granted = list(permissions.STEP_PERMISSIONS)
    namespace = args.namespace
    path = config_path(args, env)
    if args.config or env.get("PIPELINE_STEPS_CONFIG") or path.exists():
        config = load_release_config(args, env)
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
    if not namespace:
        raise ConfigError("which namespace?", field="--namespace", hint="pass --namespace NS, or -c pipeline.yaml")
    subject = {"kind": "ServiceAccount", "name": args.service_account, "namespace": namespace}
    if args.user:
        subject = {"kind": "User", "name": args.user, "apiGroup": "rbac.authorization.k8s.io"}
    return permissions.role_manifests(namespace, granted, name=args.role_name, subject=subject)
