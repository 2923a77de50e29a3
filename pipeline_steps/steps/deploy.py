"""deploy: server-side apply of the rendered manifests to the idle role (blue/green) or the app (rolling),
then wait by watch until the rollout is complete; a rolling release that fails is undone by itself.

The plan renders the manifests once and asks the API server what applying them would change; execute
applies exactly those objects, so a dry-run's diff is what a real run applies."""

from __future__ import annotations

from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RolloutFailed
from pipeline_steps.kube.diff import object_diff
from pipeline_steps.kube.readiness import fully_available
from pipeline_steps.render import manifest_to_yaml
from pipeline_steps.report import StepStatus
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies import strategy_for
from pipeline_steps.strategies.autoscaling import autoscaled_notes
from pipeline_steps.strategies.base import Plan
from pipeline_steps.strategies.owners import plan_takeover, take_over
from pipeline_steps.strategies.rollout_wait import wait_rollouts
from pipeline_steps.strategies.undo import record_before
from pipeline_steps.strategies.workloads import apply_objects, autoscalers, deployments, ensure_namespace, plan_apply


def plan(ctx: ReleaseContext) -> Plan:
    if ctx.offline:
        return _plan_offline(ctx)
    strategy = strategy_for(ctx)
    if ctx.facts.already_live:
        return Plan("this release is already public: nothing to deploy", noop=True)
    manifests = strategy.deploy_manifests()
    # Before anything else: a GitOps controller owning the selector or replicas is refused here.
    takeovers = plan_takeover(ctx, manifests)
    namespace_exists = ctx.cluster.namespace_exists()
    changes = plan_apply(ctx, manifests, namespace_exists=namespace_exists)
    todo = [f"{c.action} {c.label}" for c in changes if c.action != "unchanged"]
    todo[:0] = [f"take over the fields of {t['kind']}/{t['name']} from {', '.join(t['managers'])}" for t in takeovers]
    if not namespace_exists:
        todo.insert(0, f"create Namespace/{ctx.cluster.namespace}")
    names = [m.name for m in deployments(manifests)]
    target = ctx.facts.target_role
    where = f"role {target}" if ctx.config.strategy == "bluegreen" else f"namespace {ctx.cluster.namespace}"
    available = namespace_exists and all(
        (d := ctx.cluster.get("apps/v1", "Deployment", n)) is not None and fully_available(d) for n in names
    )
    if not todo and available:
        return Plan(f"{where} already runs this release", noop=True, facts={"deployments": names})
    live = {c.manifest.name: c.live for c in changes if c.manifest.kind == "Deployment"}
    restore = strategy.replicas_to_restore(manifests, live)
    notes = autoscaled_notes(manifests, autoscalers(ctx, manifests))
    notes += [f"scale Deployment/{name} 0 -> {count} (left at 0 by scale-down)" for name, count in restore.items()]
    summary = f"apply {len(todo)} objects to {where}" if todo else f"wait for {where} to become available"
    return Plan(
        summary,
        todo + notes,
        "".join(c.diff for c in changes),
        facts={"deployments": names},
        objects=[c.manifest for c in changes if c.action != "unchanged"],
        details={
            "rendered": manifest_to_yaml(manifests),
            "before": [record_before(c.manifest, c.live) for c in changes if c.action != "unchanged"],
            "takeovers": takeovers,
            "restore": restore,
        },
    )


def _plan_offline(ctx: ReleaseContext) -> Plan:
    """No cluster: render the manifests as deploy would, for every role, and run deploy's checks on them."""
    rendered = strategy_for(ctx).rendered_by_role()
    roles = [role for role in rendered if role]
    changes = [
        f"render {m.kind}/{m.name}" + (f" (role {role})" if role else "") for role, ms in rendered.items() for m in ms
    ]
    first = next(iter(rendered.values()))
    diff = "".join(object_diff(None, m.body, f"{m.kind}/{m.name}") for m in first)
    if roles:
        summary = (
            f"rendered and validated {len(first)} objects for each role ({', '.join(roles)}); "
            f"the diff shows role {roles[0]}; the target role and what would change need the cluster"
        )
    else:
        summary = f"rendered and validated {len(first)} objects; what would change needs the cluster"
    return Plan(
        summary, changes, diff, unchecked=["the target role, the server-side dry-run and the diff against live objects"]
    )


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    strategy = strategy_for(ctx)
    rendered = ctx.rendered_dir()
    rendered.mkdir(parents=True, exist_ok=True)
    (rendered / f"{ctx.facts.target_role or ctx.config.app}.yaml").write_text(str(plan.details.get("rendered", "")))
    # Recorded before the first write: an undo after a crash mid-apply still knows what was there.
    ctx.facts.changed_objects = list(plan.details.get("before", []))
    ensure_namespace(ctx)
    take_over(ctx, plan.details.get("takeovers", []))
    apply_objects(ctx, plan.objects)
    for name, replicas in dict(plan.details.get("restore") or {}).items():
        ctx.cluster.scale(name, replicas)
    done = list(plan.changes)
    names = ctx.facts.deployments
    try:
        # A blue/green role is deployed to be made public: at 0 replicas it is not rolled out.
        wait_rollouts(ctx, names, ctx.config.timeouts.rollout_s, at_least_one=ctx.config.strategy == "bluegreen")
    except RolloutFailed as exc:
        undone = strategy.deploy_failed(names, exc)
        if undone is None:
            raise
        ctx.facts.changed_objects = []
        return Outcome(undone, StepStatus.ROLLED_BACK, done, error=str(exc))
    return Outcome(f"{plan.summary}: rolled out", changes=done)
