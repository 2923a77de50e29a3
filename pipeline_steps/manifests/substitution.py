"""`${VAR}` substitution on manifest and config text, before YAML parsing, so errors carry the file's lines.

Syntax: `${NAME}` and `${NAME:-default}` (the default applies when NAME is unset or empty, as in the shell);
`$${` is the escape for a literal `${`. A `$` not followed by `{` is left alone, so shell scripts embedded in
manifests (`$HOME`, `$1`, `$$`) pass through unchanged.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Callable, Mapping

from pipeline_steps.errors import RenderError

_OPENING = re.compile(r"\$\$\{|\$\{")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_NAME_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_]")
_SYNTAX_HINT = "write ${NAME} or ${NAME:-default} on one line; write $${ for a literal ${"


@dataclasses.dataclass(frozen=True)
class _Reference:
    line: int
    name: str | None  #: None when the reference is malformed
    default: str | None
    problem: str | None
    start: int
    end: int


def substitute(
    text: str, variables: Mapping[str, str], *, source: str, unset_value: Callable[[str], str] | None = None
) -> str:
    """Replace every `${NAME}` in `text` from `variables`.

    Raises RenderError listing every unset variable and malformed reference of the file with its line;
    with `unset_value`, an unset variable becomes `unset_value(NAME)` instead (rendering for object names
    only, where the caller checks that no name holds such a value).
    """
    pieces: list[str] = []
    position = 0
    unset: dict[str, list[int]] = {}
    malformed: list[tuple[int, str]] = []
    for item in _scan(text):
        if isinstance(item, int):
            # An escaped `$${`: keep the text before it and a literal `${`.
            pieces.append(text[position:item])
            pieces.append("${")
            position = item + 3
            continue
        pieces.append(text[position : item.start])
        position = item.end
        if item.name is None:
            malformed.append((item.line, item.problem or "malformed reference"))
            continue
        value = variables.get(item.name)
        if value:
            pieces.append(value)
        elif item.default is not None:
            pieces.append(item.default)
        elif value is not None:
            pieces.append(value)  # explicitly set to the empty string
        elif unset_value is not None:
            pieces.append(unset_value(item.name))
        else:
            unset.setdefault(item.name, []).append(item.line)
    if unset or malformed:
        raise _substitution_error(source, unset, malformed)
    pieces.append(text[position:])
    return "".join(pieces)


def referenced_variables(text: str) -> set[str]:
    """The names `text` references with `${NAME}` or `${NAME:-default}` (escapes and malformed ones excluded)."""
    return {item.name for item in _scan(text) if not isinstance(item, int) and item.name is not None}


def _scan(text: str) -> list[_Reference | int]:
    """Each `${...}` reference in order, or the offset of an escaped `$${`."""
    line_starts = [0, *(match.end() for match in re.finditer("\n", text))]
    found: list[_Reference | int] = []
    position = 0
    while (match := _OPENING.search(text, position)) is not None:
        if match.group() == "$${":
            found.append(match.start())
            position = match.end()
            continue
        line = bisect.bisect_right(line_starts, match.start())
        inner_start = match.end()
        line_end = text.find("\n", inner_start)
        close = text.find("}", inner_start, len(text) if line_end < 0 else line_end)
        if close < 0:
            problem = '"${" is not closed on its line'
            found.append(_Reference(line, None, None, problem, match.start(), inner_start))
            position = inner_start
            continue
        inner = text[inner_start:close]
        found.append(_parse_reference(inner, line, match.start(), close + 1))
        position = close + 1
    return found


def _parse_reference(inner: str, line: int, start: int, end: int) -> _Reference:
    parsed = _REFERENCE.fullmatch(inner)
    if parsed is None:
        if _NAME_PREFIX.match(inner):
            problem = f'"${{{inner}}}" is not supported: only ${{NAME}} and ${{NAME:-default}} are'
        else:
            problem = (
                f'"${{{inner}}}" is not a valid reference: a name is letters, digits and _, not starting with a digit'
            )
        return _Reference(line, None, None, problem, start, end)
    default = parsed.group("default")
    if default is not None and "${" in default:
        problem = f'"${{{inner}}}...": a default cannot contain another ${{...}}'
        return _Reference(line, None, None, problem, start, end)
    return _Reference(line, parsed.group("name"), default, None, start, end)


def _substitution_error(source: str, unset: Mapping[str, list[int]], malformed: list[tuple[int, str]]) -> RenderError:
    problems: list[tuple[int, str]] = list(malformed)
    for name, lines in unset.items():
        also = f" (also on line{'s' if len(lines) > 2 else ''} {', '.join(map(str, lines[1:]))})" if lines[1:] else ""
        problems.append((lines[0], f"${{{name}}} is not set{also}"))
    problems.sort(key=lambda problem: problem[0])
    hints: list[str] = []
    if unset:
        settings = " ".join(f"--set {name}=..." for name in unset)
        hints.append(f"set {'it' if len(unset) == 1 else 'them'} in the environment or pass {settings}")
    if malformed:
        hints.append(_SYNTAX_HINT)
    first_line, first_problem = problems[0]
    rest = "".join(f"\n{source}:{line}: {problem}" for line, problem in problems[1:])
    return RenderError(first_problem + rest, source=f"{source}:{first_line}", hint="; ".join(hints))
