"""The model's validation errors as the project's ConfigError: each names file, line, field and fix.

pydantic locates an error by the keys and list positions that lead to it (`loc`); the YAML nodes of the
same keys give the line. Every problem is reported, in the order of the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline_steps.config.fields import PROBLEM
from pipeline_steps.errors import ConfigError

#: Keys (as text) and list positions from the top of the document.
KeyPath = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Lines:
    """The line (1-based) of each key and list item of a YAML document, by its path from the top."""

    by_path: Mapping[KeyPath, int]

    @classmethod
    def of(cls, node: yaml.Node | None, line_of: Callable[[yaml.Mark], int] = lambda mark: mark.line + 1) -> Lines:
        """`line_of` gives a position's line in the file (which substitution may have changed)."""
        found: dict[KeyPath, int] = {}
        _walk(node, (), found, line_of)
        return cls(found)

    def line(self, path: KeyPath) -> int | None:
        """The line of the deepest key of `path` the document has; None for the document itself."""
        for end in range(len(path), 0, -1):
            line = self.by_path.get(path[:end])
            if line is not None:
                return line
        return None


def _walk(
    node: yaml.Node | None, path: KeyPath, found: dict[KeyPath, int], line_of: Callable[[yaml.Mark], int]
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                found[(*path, key.value)] = line_of(key.start_mark)
                _walk(value, (*path, key.value), found, line_of)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found[(*path, index)] = line_of(item.start_mark)
            _walk(item, (*path, index), found, line_of)


@dataclasses.dataclass(frozen=True)
class Problem:
    path: KeyPath  #: keys and list positions from the top of the document
    message: str
    hint: str | None


def config_error(
    exc: ValidationError, data: Any, *, source: str, lines: Lines | None = None, prefix: str = ""
) -> ConfigError:
    """One ConfigError for every problem of `exc`; `prefix` names where `data` sits in the file (confirm.mail)."""
    found = [_problem(error, data, prefix) for error in exc.errors(include_url=False)]
    located = [(lines.line(p.path) if lines else None, p) for p in found]
    # Problems of the document itself (a missing top-level key) first, then in the order of the file.
    located.sort(key=lambda item: item[0] or 0)
    errors = [
        (
            p,
            ConfigError(
                p.message,
                source=f"{source}:{line}" if line else source,
                field=_field_name(prefix, p.path) or None,
                hint=p.hint,
            ),
        )
        for line, p in located
    ]
    first_problem, first = errors[0]
    if len(errors) == 1:
        return first
    # As the substitution's errors read: the first problem, then one line per further problem.
    message = f"{first_problem.message} ({first_problem.hint})" if first_problem.hint else first_problem.message
    rest = "".join(f"\n{error}" for _, error in errors[1:])
    return ConfigError(message + rest, source=first.source, field=first.field)


def _problem(error: Any, data: Any, prefix: str) -> Problem:
    path = _data_path(error["loc"], data)
    ctx = error.get("ctx") or {}
    if error["type"] == PROBLEM:
        return Problem(path, str(ctx["message"]), ctx.get("hint"))
    if error["type"] == "missing":
        parent = _field_name(prefix, path[:-1]) or "the top level"
        return Problem(path, "is required", f"add `{path[-1]}:` to {parent}")
    return Problem(path, str(error["msg"]), None)


def _data_path(loc: Sequence[Any], data: Any) -> KeyPath:
    """The keys (as text) and positions of `loc` that lead through `data`: pydantic adds the names of the
    types and validators it tried (a union's member) between them; a missing key is the last part and stays."""
    path: list[Any] = []
    here = data
    for index, part in enumerate(loc):
        if isinstance(here, Mapping) and part in here:
            path.append(str(part))
            here = here[part]
        elif isinstance(here, (list, tuple)) and isinstance(part, int) and 0 <= part < len(here):
            path.append(part)
            here = here[part]
        elif index == len(loc) - 1:
            path.append(str(part))
            here = None
    return tuple(path)


def _field_name(prefix: str, path: KeyPath) -> str:
    name = prefix
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name
