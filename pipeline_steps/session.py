"""Opening a release from its options (the command line's flags, or a runner of your own's): config, cluster
(or none: an offline plan), run id, state."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipeline_steps.config import Config, Overrides, load_config
from pipeline_steps.context import Prompt, ReleaseContext
from pipeline_steps.errors import ConfigError, LockHeld
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.kube.connection import connect, no_cluster_credentials
from pipeline_steps.state import (
    RunState,
    current_owner,
    load_state,
    local_scope,
    owner_is_running,
    resolve_state_path,
    save_state,
)


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
    """A run id of its own: the release lock tells runs apart by it, and two runs started in the same second (two
    shells, one checkout) are two runs."""
    return f"{app}-{datetime.datetime.now(datetime.UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


#: Verbs that only read names (and record decisions): they ask only for the variables names depend on.
NAME_ONLY_VERBS = ("status", "rollback", "unlock", "approve", "reject", "rbac")


@dataclasses.dataclass(frozen=True)
class ReleaseOptions:
    """What a release is opened with: the command line's flags, or a runner of your own's choices."""

    config: str | None = None  #: pipeline.yaml (default: PIPELINE_STEPS_CONFIG, then ./pipeline.yaml)
    sets: Sequence[str] = ()  #: VAR=VALUE, as --set
    namespace: str | None = None
    image: str | None = None
    confirm_mode: str | None = None
    post_clean: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    state: str | None = None  #: the state file (default: PIPELINE_STEPS_STATE, then keyed by cluster/namespace/app)
    run_id: str | None = None
    dry_run: bool = False
    assume_yes: bool = False  #: --yes: approve the confirm step without asking
    #: Only names are needed (status, rollback...): variables that feed no name may be unset.
    names_only: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReleaseOptions:
        return cls(
            config=getattr(args, "config", None),
            sets=tuple(getattr(args, "set", ()) or ()),
            namespace=getattr(args, "namespace", None),
            image=getattr(args, "image", None),
            confirm_mode=getattr(args, "confirm_mode", None),
            post_clean=getattr(args, "post_clean", None),
            kubeconfig=getattr(args, "kubeconfig", None),
            context=getattr(args, "context", None),
            state=getattr(args, "state", None),
            run_id=getattr(args, "run_id", None),
            dry_run=bool(getattr(args, "dry_run", False)),
            assume_yes=bool(getattr(args, "yes", False)),
            names_only=getattr(args, "command", None) in NAME_ONLY_VERBS,
        )


def config_path(options: ReleaseOptions, env: Mapping[str, str]) -> Path:
    return Path(options.config or env.get("PIPELINE_STEPS_CONFIG") or "pipeline.yaml")


def load_release_config(options: ReleaseOptions, env: Mapping[str, str]) -> Config:
    """pipeline.yaml with the environment and --set substituted, and flags over PIPELINE_STEPS_* over the file."""
    flags = Overrides(
        namespace=options.namespace,
        image=options.image,
        confirm_mode=options.confirm_mode,
        post_clean=options.post_clean,
    )
    variables = {**env, **parse_sets(options.sets)}
    overrides = flags.over(Overrides.from_env(env))
    return load_config(config_path(options, env), variables, overrides, names_only=options.names_only)


def plans_offline(options: ReleaseOptions, env: Mapping[str, str]) -> bool:
    """A dry-run with no cluster credentials anywhere plans offline. A --context names a cluster the user
    means to read: without credentials that stays an error."""
    return options.dry_run and not options.context and no_cluster_credentials(options.kubeconfig, env)


def open_release(
    options: ReleaseOptions,
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
    config = load_release_config(options, env)
    run_id = resolve_run_id(options.run_id, env)
    workspace = Path.cwd()
    if plans_offline(options, env):
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
            assume_yes=options.assume_yes,
            progress=progress,
        )
        return ctx, lambda: None
    cluster = KubeCluster(connect(options.kubeconfig, options.context), config.namespace)
    scope = local_scope(cluster.identity, cluster.namespace, config.app)
    path = resolve_state_path(options.state, env, workspace, scope)
    previous = load_state(path)
    if previous and previous.app != config.app:
        previous = None
    if previous and not fresh and (run_id is None or run_id == previous.run_id) and not previous.finished:
        state = previous
    else:
        state = RunState(config.app, run_id or new_run_id(config.app), config.strategy)
        if previous and previous.run_id != state.run_id and not previous.finished:
            if fresh and not options.dry_run and owner_is_running(previous.owner):
                # Two shells, one checkout: pre-clean would take the running one's lock and files as leftovers.
                # (Other verbs, `approve` of that very run among them, take nothing over.)
                raise LockHeld(
                    f"run {previous.run_id} of {config.app} is still running from this workspace "
                    f"(process {previous.owner.split(':')[1]})",
                    hint="wait for it to finish, or stop it first; a run that was killed is taken over by the next",
                )
            state.facts.previous_run = previous.run_id
    state.owner = current_owner()
    ctx = ReleaseContext(
        config=config,
        cluster=cluster,
        state=state,
        workspace=workspace,
        env=env,
        dry_run=options.dry_run,
        assume_yes=options.assume_yes,
        prompt=prompt,
        progress=progress,
    )
    if not cluster.verifies_tls:
        ctx.warn("the kubeconfig turns off TLS verification of the API server (insecure-skip-tls-verify)")
    return ctx, lambda: save_state(path, state)
