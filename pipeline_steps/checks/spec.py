"""Check lists of pipeline.yaml (`verify.staged`, `verify.prod`) -> typed, validated check specs.

The model of a check is `pipeline_steps.config.checks`; a loaded Config already holds the specs
(`config.verify_staged`). `parse_checks` is for a list given as plain data.
"""

from __future__ import annotations

from typing import Any

from pipeline_steps.config.checks import (
    HTTP_METHODS,
    Attempts,
    Checks,
    CheckSpec,
    CommandCheckSpec,
    HttpCheckSpec,
    specs,
)
from pipeline_steps.config.validation import validate

__all__ = ["HTTP_METHODS", "Attempts", "CheckSpec", "CommandCheckSpec", "HttpCheckSpec", "parse_checks"]


def parse_checks(items: Any, *, source: str, field: str) -> list[CheckSpec]:
    """The checks of a list as read from YAML; ConfigError naming `field` (e.g. verify.staged[1].http.method)."""
    return list(specs(validate(Checks, items, source=source, prefix=field)))
