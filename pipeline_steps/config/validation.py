"""Validating data against the configuration's types, with errors mapped to the file's lines."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pipeline_steps.config.problems import Lines, config_error


def validate(kind: Any, data: Any, *, source: str, lines: Lines | None = None, prefix: str = "") -> Any:
    """`data` as a `kind` (a model or a type such as `Checks`); `prefix` names where it sits in the file."""
    try:
        return _adapter(kind).validate_python(data, context={"source": source})
    except ValidationError as exc:
        raise config_error(exc, data, source=source, lines=lines, prefix=prefix) from None


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)
