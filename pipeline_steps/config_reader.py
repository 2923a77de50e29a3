"""Typed reading of one mapping of pipeline.yaml, so every error names the file, the field and the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pipeline_steps.errors import ConfigError

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_QUOTE_HINT = "quote it: YAML reads unquoted yes, no, on, off, true and false as booleans"


class Section:
    """A mapping read field by field; `done()` rejects whatever keys were not read (typos)."""

    def __init__(self, data: Any, *, source: str, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"must be a mapping, not {type(data).__name__}", source=source, field=path or None, hint=None
            )
        self.data: Mapping[str, Any] = data
        self.source = source
        self.path = path
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, source=self.source, field=self.field(key), hint=hint)

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.data

    def typed(self, key: str, kind: type[T] | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        value = self.raw(key, default)
        if value is None:
            if required:
                raise self.error(key, "is required", hint=f"add `{key}:` to {self.path or 'the top level'}")
            return default
        if isinstance(value, bool) and kind in (int, float):
            raise self.error(key, f"must be a number, not {value!r}")
        if isinstance(value, bool) and isinstance(kind, tuple) and str in kind:
            # bool is an int: without this, an unquoted `no` would silently become the string "False".
            raise self.error(key, f"must be text, not the boolean {value!r}", hint=_QUOTE_HINT)
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"must be {names}, not {type(value).__name__} {value!r}")
        return value

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.typed(key, (str, int, float), default, required=required)
        return None if value is None else str(value)

    def boolean(self, key: str, default: bool) -> bool:
        return bool(self.typed(key, bool, default))

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.error(key, f"is {value!r}; choose one of: {', '.join(choices)}")
        return str(value)

    def duration(self, key: str, default: float) -> float:
        value = self.raw(key, None)
        return default if value is None else parse_duration(value, source=self.source, field=self.field(key))

    def string_list(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.raw(key, None)
        if value is None:
            return default
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise self.error(key, f"must be a string or a list of strings, not {value!r}")
        if any(isinstance(v, bool) for v in value):
            raise self.error(key, f"must be a list of strings, not {value!r}", hint=_QUOTE_HINT)
        return tuple(str(v) for v in value)

    def section(self, key: str) -> Section:
        return Section(self.raw(key), source=self.source, path=self.field(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.error(unknown[0], "is not a known setting", hint=f"known here: {known}; check the spelling")


def parse_duration(value: Any, *, source: str, field: str) -> float:
    """Seconds from a number or a string such as "90s", "5m", "1h", "250ms"."""
    if isinstance(value, bool):
        raise ConfigError(f"must be a duration, not {value!r}", source=source, field=field)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(
                f"{value!r} is not a duration", source=source, field=field, hint='write e.g. 30, "30s", "5m", "1h"'
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ConfigError(f"must not be negative, got {value!r}", source=source, field=field)
    return seconds
