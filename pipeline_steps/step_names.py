"""The release steps' names, in pipeline order: what the CLI, the Jenkinsfile and the action accept."""

from __future__ import annotations

STEP_NAMES = (
    "pre-clean",
    "prepare-image",
    "check-env",
    "deploy",
    "verify-staged",
    "confirm",
    "switch",
    "verify-prod",
    "post-clean",
)
