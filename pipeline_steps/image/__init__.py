"""The release image: build and push it, or take a prebuilt reference, then pin it to its digest."""

from __future__ import annotations

from pipeline_steps.image.builders import Builder, BuildSpec, plan_build, run_build
from pipeline_steps.image.reference import ImageReference
from pipeline_steps.image.registry import Credentials, find_credentials, resolve_digest

__all__ = [
    "BuildSpec",
    "Builder",
    "Credentials",
    "ImageReference",
    "find_credentials",
    "plan_build",
    "resolve_digest",
    "run_build",
]
