"""A dry-run with no cluster to read: render and validate everything that needs no cluster, and say what
could not be checked.

`pipeline-steps run --dry-run` (or `step NAME --dry-run`) comes here when no cluster credentials are found
(no --kubeconfig, KUBECONFIG, ~/.kube/config or ServiceAccount): a pull-request check or a CI job without
access to the cluster still learns whether the config loads, the manifests render for every role and pass
the checks deploy applies, the image reference parses, the build plans, the verify checks parse and the
approval e-mail settings hold. What the cluster alone can tell (which role is public, what would change,
whether the checks pass) is reported as not checked, never guessed.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from kubernetes import client

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ConfigError, PipelineError
from pipeline_steps.image.reference import ImageReference
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.kube.connection import credentials_source
from pipeline_steps.kube.diff import object_diff
from pipeline_steps.outcome import ExitCode
from pipeline_steps.render import Manifest
from pipeline_steps.report import RunReport, StepReport, StepStatus
from pipeline_steps.session import load_release_config
from pipeline_steps.state import RunState
from pipeline_steps.steps import confirm, prepare_image, verify
from pipeline_steps.strategies.bluegreen import BlueGreen
from pipeline_steps.strategies.rolling import Rolling

#: Why a step cannot be planned without the cluster: shown as the step's summary and in `not_checked`.
NEEDS_CLUSTER = {
    "pre-clean": "what an earlier run left behind",
    "check-env": "which role is public and what each role runs",
    "switch": "which role the public Service selects",
    "post-clean": "what the old role runs",
}


def no_cluster_credentials(kubeconfig: str | None, env: Mapping[str, str], home: Path | None = None) -> bool:
    """True when no credentials would be found: a dry-run then plans offline instead of failing."""
    try:
        credentials_source(kubeconfig, env, home or Path.home())
    except ConfigError:
        return True
    return False


class OfflineCluster(KubeCluster):
    """Stands in for the cluster in an offline plan: it has a namespace and refuses every call."""

    def __init__(self, namespace: str) -> None:
        super().__init__(client.ApiClient(), namespace)

    def resource(self, api_version: str, kind: str) -> NoReturn:
        raise PipelineError(f"an offline plan cannot read {kind} from the cluster")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image(ctx: ReleaseContext) -> tuple[str, dict[str, Any]]:
    settings = ctx.config.image
    if settings.build is not None:
        planned = prepare_image.plan(ctx)  # builds nothing and reads no registry: it lists the commands
        return planned.summary + "; " + "; ".join(planned.changes), planned.data
    if not settings.reference:
        return "no image configured: the manifests deploy the images they name", {}
    if not settings.resolve_digest:  # deployed as written, as prepare-image would
        return f"image {settings.reference}", {"image": settings.reference, "image_ref": settings.reference}
    ref = ImageReference.parse(settings.reference, source=str(ctx.config.path), field="image.reference")
    if ref.digest:
        return f"image {ref}", {"image": settings.reference, "image_ref": str(ref)}
    # The digest is what deploy pins; reading the registry is left to the run that can deploy.
    return (
        f"image {ref}; its digest is not resolved in an offline plan",
        {"image": settings.reference, "image_ref": settings.reference},
    )


def _render(ctx: ReleaseContext) -> tuple[str, list[str], str]:
    """Render the manifests as deploy would, for every role, and run deploy's checks on them."""
    config = ctx.config
    if config.strategy == "bluegreen":
        strategy = BlueGreen(ctx)
        roles = list(config.bluegreen.roles)
        strategy._names_by_role()  # the check deploy makes: each role has Deployments, named apart
        rendered = {role: strategy.manifests(role) for role in roles}
    else:
        roles = []
        rendered = {"": Rolling(ctx).manifests()}
    changes: list[str] = []
    for role, manifests in rendered.items():
        where = f" (role {role})" if role else ""
        changes.extend(f"render {m.kind}/{m.name}{where}" for m in manifests)
    first: list[Manifest] = next(iter(rendered.values()))
    diff = "".join(object_diff(None, m.body, f"{m.kind}/{m.name}") for m in first)
    count = len(first)
    if roles:
        summary = (
            f"rendered and validated {count} objects for each role ({', '.join(roles)}); "
            f"the diff shows role {roles[0]}; the target role and what would change need the cluster"
        )
    else:
        summary = f"rendered and validated {count} objects; what would change needs the cluster"
    return summary, changes, diff


def _plan_step(ctx: ReleaseContext, name: str) -> StepReport:
    started = time.monotonic()

    def report(status: StepStatus, summary: str, changes: Sequence[str] = (), diff: str = "") -> StepReport:
        return StepReport(name, status, summary, time.monotonic() - started, list(changes), diff)

    if name in NEEDS_CLUSTER:
        return report(StepStatus.SKIPPED, f"not checked: {NEEDS_CLUSTER[name]} is on the cluster")
    if name == "prepare-image":
        summary, data = _image(ctx)
        ctx.facts.update(data)
        return report(StepStatus.PLANNED, summary)
    if name == "deploy":
        return report(StepStatus.PLANNED, *_render(ctx))
    if name in ("verify-staged", "verify-prod"):
        planned = verify.plan_staged(ctx) if name == "verify-staged" else verify.plan_prod(ctx)
        if planned.noop:
            return report(StepStatus.UNCHANGED, planned.summary)
        return report(StepStatus.PLANNED, planned.summary + "; not run: the endpoints are on the cluster")
    planned = confirm.plan(ctx)
    return report(StepStatus.UNCHANGED if planned.noop else StepStatus.PLANNED, planned.summary, planned.changes)


def plan(
    args: argparse.Namespace,
    env: Mapping[str, str],
    names: Sequence[str],
    *,
    run_id: str | None,
    new_run_id: Callable[[str], str],
    progress: Callable[[str], None],
    on_step_start: Callable[[str], None] = lambda _name: None,
    on_step_done: Callable[[StepReport], None] = lambda _report: None,
) -> RunReport:
    """Plan `names` without a cluster. Writes no state: an offline plan is not part of a run."""
    config = load_release_config(args, env)
    ctx = ReleaseContext(
        config=config,
        cluster=OfflineCluster(config.namespace),
        state=RunState(config.app, run_id or new_run_id(config.app), config.strategy),
        workspace=Path.cwd(),
        env=env,
        dry_run=True,
        assume_yes=bool(getattr(args, "yes", False)),
        progress=progress,
    )
    progress("no cluster credentials found: planning offline (render and validate; the cluster is not read)")
    report = RunReport(
        app=config.app,
        namespace=config.namespace,
        strategy=config.strategy,
        run_id=ctx.run_id,
        dry_run=True,
        started_at=_now(),
    )
    for name in names:
        on_step_start(name)
        step = _plan_step(ctx, name)
        report.steps.append(step)
        on_step_done(step)
    report.finished_at = _now()
    not_checked = [f"{name} ({NEEDS_CLUSTER[name]})" for name in names if name in NEEDS_CLUSTER]
    if "deploy" in names:
        not_checked.append("deploy (the target role, the server-side dry-run and the diff against live objects)")
    not_checked += [f"{name} (the checks' answers)" for name in names if name in ("verify-staged", "verify-prod")]
    if "prepare-image" in names and ctx.config.image.resolve_digest and ctx.config.image.reference:
        not_checked.append("prepare-image (the image's digest in the registry)")
    report.facts = {
        **{key: ctx.facts[key] for key in ("image", "image_ref") if ctx.facts.get(key)},
        "cluster": "not contacted: no cluster credentials (offline plan)",
        "not_checked": "; ".join(not_checked) or "nothing",
    }
    report.exit_code = int(ExitCode.OK)
    report.outcome = ExitCode.OK.name.lower()
    return report
