"""prepare-image: build and push with the configured builder, or take a prebuilt reference; resolve the
tag to a digest from the registry, so deploy pins exactly what was tested."""

from __future__ import annotations

import shlex

from pipeline_steps.context import ReleaseContext
from pipeline_steps.image.builders import BuildSpec, plan_build, run_build
from pipeline_steps.image.reference import ImageReference
from pipeline_steps.image.registry import resolve_digest
from pipeline_steps.steps.base import Outcome
from pipeline_steps.strategies.base import Plan


def _build_spec(ctx: ReleaseContext) -> BuildSpec | None:
    settings = ctx.config.image
    if settings.build is None:
        return None
    return BuildSpec.from_mapping(settings.build, source=str(ctx.config.path), base_dir=ctx.config.base_dir)


def _resolve(ctx: ReleaseContext, text: str, *, field: str, tls_verify: bool = True) -> str:
    settings = ctx.config.image
    if not settings.resolve_digest:
        return text
    ref = ImageReference.parse(text, source=str(ctx.config.path), field=field)
    if ref.digest:
        return str(ref)
    digest = resolve_digest(ref, tls_verify=settings.tls_verify and tls_verify)
    return str(ref.with_digest(digest))


def plan(ctx: ReleaseContext) -> Plan:
    spec = _build_spec(ctx)
    reference = ctx.config.image.reference
    if not ctx.config.image.tls_verify and ctx.config.image.resolve_digest and (spec or reference):
        ctx.warn("image.tls_verify is false: the registry is read over plain HTTP, its answers unverified")
    if spec is None:
        if not reference:
            return Plan("no image configured: the manifests deploy the images they name", noop=True)
        if ctx.offline:
            return _plan_offline(ctx, reference)
        # Reading the registry changes nothing, so the digest is resolved even in a dry-run.
        resolved = _resolve(ctx, reference, field="image.reference")
        return Plan(f"image {resolved}", noop=True, facts={"image": reference, "image_ref": resolved})
    commands = [shlex.join(command) for command in plan_build(spec)]
    return Plan(f"build and push {spec.tag}", commands, facts={"image": str(spec.tag)})


def _plan_offline(ctx: ReleaseContext, reference: str) -> Plan:
    """No registry to read in an offline plan: the reference is parsed, its digest left to the real run."""
    if not ctx.config.image.resolve_digest:  # deployed as written, as a real run would
        return Plan(f"image {reference}", facts={"image": reference, "image_ref": reference})
    ref = ImageReference.parse(reference, source=str(ctx.config.path), field="image.reference")
    if ref.digest:
        return Plan(f"image {ref}", facts={"image": reference, "image_ref": str(ref)})
    return Plan(
        f"image {ref}; its digest is not resolved in an offline plan",
        facts={"image": reference, "image_ref": reference},
        unchecked=["the image's digest in the registry"],
    )


def execute(ctx: ReleaseContext, plan: Plan) -> Outcome:
    spec = _build_spec(ctx)
    assert spec is not None
    run_build(spec, on_output=lambda line: ctx.progress(f"build: {line}"))
    resolved = _resolve(ctx, str(spec.tag), field="image.build.tag", tls_verify=spec.tls_verify)
    ctx.facts.merge({"image": str(spec.tag), "image_ref": resolved})
    return Outcome(f"built and pushed {resolved}", changes=plan.changes)
