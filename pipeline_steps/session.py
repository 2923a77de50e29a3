"""Opening a release from the command line's arguments: config, cluster, state; and the maintenance verbs."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipeline_steps import approvals
from pipeline_steps.config import Overrides, load_config
from pipeline_steps.context import Prompt, ReleaseContext
from pipeline_steps.errors import ConfigError
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.kube.connection import connect
from pipeline_steps.state import RunState, load_state, resolve_state_path, save_state
from pipeline_steps.strategies import strategy_for


def config_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    return Path(args.config or env.get("PIPELINE_STEPS_CONFIG") or "pipeline.yaml")


def _sets(args: argparse.Namespace) -> dict[str, str]:
    from pipeline_steps.cli import parse_sets  # noqa: PLC0415

    return parse_sets(args.set)


def open_release(
    args: argparse.Namespace,
    env: Mapping[str, str],
    *,
    run_id: str | None,
    fresh: bool,
    new_run_id: Callable[[str], str],
    prompt: Prompt | None,
    progress: Callable[[str], None],
) -> tuple[ReleaseContext, Callable[[], None]]:
    """The context of one invocation, and how to save its state.

    `fresh` (a selection that starts at pre-clean) starts a new run; any other selection continues the run in
    the state file when it has the same run id (or none is given), and otherwise starts from what the cluster
    says."""
    flags = Overrides(
        namespace=args.namespace,
        image=getattr(args, "image", None),
        confirm_mode=getattr(args, "confirm_mode", None),
        post_clean=getattr(args, "post_clean", None),
    )
    overrides = flags.over(Overrides.from_env(env))
    variables = {**env, **_sets(args)}
    config = load_config(config_path(args, env), variables, overrides)
    workspace = Path.cwd()
    path = resolve_state_path(args.state, env, config.app, workspace)
    previous = load_state(path)
    if previous and previous.app != config.app:
        previous = None
    if previous and not fresh and (run_id is None or run_id == previous.run_id) and not previous.finished:
        state = previous
    else:
        state = RunState(config.app, run_id or new_run_id(config.app), config.strategy)
        if previous and previous.run_id != state.run_id and not previous.finished:
            state.facts["previous_run"] = previous.run_id
    cluster = KubeCluster(connect(args.kubeconfig, args.context), config.namespace)
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
    return ctx, lambda: save_state(path, state)


def maintenance(
    ctx: ReleaseContext, command: str, args: argparse.Namespace, env: Mapping[str, str], save: Callable[[], None]
) -> dict[str, Any]:
    """rollback, status, approve, reject: the answer to print, or an exit code."""
    strategy = strategy_for(ctx)
    if command == "status":
        return strategy.status()
    if command == "rollback":
        plan = strategy.plan_rollback()
        if ctx.dry_run:
            return {"planned": plan.summary, "changes": plan.changes}
        done = strategy.rollback(plan)
        ctx.progress(done.summary)
        return {"rolled_back": done.summary, **done.data}
    approver = args.approver or env.get("BUILD_USER_ID") or env.get("GITHUB_ACTOR") or env.get("USER") or os.getlogin()
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
