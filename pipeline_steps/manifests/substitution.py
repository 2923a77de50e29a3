"""`${VAR}` substitution on manifest and config text, before YAML parsing, so errors carry the file's lines.

Syntax: `${NAME}` and `${NAME:-default}` (the default applies when NAME is unset or empty, as in the shell);
`$${` is the escape for a literal `${`. A `$` not followed by `{` is left alone, so shell scripts embedded in
manifests (`$HOME`, `$1`, `$$`) pass through unchanged.

A value stays a value: the text is substituted before it is parsed, so a value holding YAML syntax (a line
break and a key, a `---`, a closing quote) could add keys, list items or whole documents to the file. For YAML
files, `substitute_yaml` refuses a value that changes what the file parses into, besides the values themselves.
Defaults are exempt: they are written in the file by its author.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence

import yaml

from pipeline_steps.errors import RenderError

_OPENING = re.compile(r"\$\$\{|\$\{")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_NAME_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_]")
_SYNTAX_HINT = "write ${NAME} or ${NAME:-default} on one line; write $${ for a literal ${"
#: Values that cannot change how YAML reads the text around them, wherever they stand: names, tags, numbers,
#: paths and image references (a ':' only inside, never before a space or at the end: `[k:]` is a mapping).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=-]*(?::[A-Za-z0-9_./@+=-]+)*")
#: What stands in for a value while the file's own structure is read: a plain word, valid in any scalar.
_PLACEHOLDER = "pipelinestepsvalue"
_VALUE_HINT = (
    "a value is inserted as text into one YAML value and may not add keys, items or documents: keep line breaks, "
    "quotes, ' #', '---' and brackets out of it, or quote the reference (\"${NAME}\") if it holds ': ' or '#'"
)


@dataclasses.dataclass(frozen=True)
class _Reference:
    line: int
    name: str | None  #: None when the reference is malformed
    default: str | None
    problem: str | None
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Inserted:
    """A variable's value put in place of its reference: where it stands in the substituted text."""

    name: str
    line: int  #: the reference's line in the file, from 1
    start: int  #: offsets in the substituted text
    end: int


@dataclasses.dataclass(frozen=True)
class Substituted:
    """Substituted text, with where each variable's value went and the file's own line breaks."""

    text: str
    inserted: tuple[Inserted, ...]
    #: Offsets in `text` of the line breaks the file has (a value's own line breaks are not among them).
    file_breaks: tuple[int, ...]

    def line_at(self, offset: int) -> int:
        """The file's line (from 1) of the substituted text at `offset`: a value with line breaks in it does not
        move the lines after it."""
        return bisect.bisect_left(self.file_breaks, offset) + 1


def substitute(
    text: str, variables: Mapping[str, str], *, source: str, unset_value: Callable[[str], str] | None = None
) -> str:
    """Replace every `${NAME}` in `text` from `variables`.

    Raises RenderError listing every unset variable and malformed reference of the file with its line;
    with `unset_value`, an unset variable becomes `unset_value(NAME)` instead (rendering for object names
    only, where the caller checks that no name holds such a value).
    """
    return _substituted(text, variables, source=source, unset_value=unset_value).text


def substitute_yaml(
    text: str, variables: Mapping[str, str], *, source: str, unset_value: Callable[[str], str] | None = None
) -> Substituted:
    """`substitute` for a YAML file: also a RenderError, naming the variable and its line, when a value would
    change what the file parses into (a key, a list item or a document the file does not have)."""
    substituted = _substituted(text, variables, source=source, unset_value=unset_value)
    _check_values_stay_values(substituted, source=source)
    return substituted


def _substituted(
    text: str, variables: Mapping[str, str], *, source: str, unset_value: Callable[[str], str] | None
) -> Substituted:
    pieces: list[str] = []
    length = 0  # of the pieces so far
    inserted: list[Inserted] = []
    file_breaks: list[int] = []
    position = 0
    unset: dict[str, list[int]] = {}
    malformed: list[tuple[int, str]] = []

    def keep(part: str, *, value_of: tuple[str, int] | None = None) -> None:
        nonlocal length
        if value_of is not None and part:
            inserted.append(Inserted(value_of[0], value_of[1], length, length + len(part)))
        elif value_of is None:
            file_breaks.extend(length + match.start() for match in re.finditer("\n", part))
        pieces.append(part)
        length += len(part)

    for item in _scan(text):
        if isinstance(item, int):
            # An escaped `$${`: keep the text before it and a literal `${`.
            keep(text[position:item])
            keep("${")
            position = item + 3
            continue
        keep(text[position : item.start])
        position = item.end
        if item.name is None:
            malformed.append((item.line, item.problem or "malformed reference"))
            continue
        value = variables.get(item.name)
        if value:
            keep(value, value_of=(item.name, item.line))
        elif item.default is not None:
            keep(item.default)  # written in the file: part of it
        elif value is not None:
            keep(value)  # explicitly set to the empty string
        elif unset_value is not None:
            keep(unset_value(item.name), value_of=(item.name, item.line))
        else:
            unset.setdefault(item.name, []).append(item.line)
    if unset or malformed:
        raise _substitution_error(source, unset, malformed)
    keep(text[position:])
    return Substituted("".join(pieces), tuple(inserted), tuple(file_breaks))


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


# -- a value stays a value ---------------------------------------------------------------------------------


def _check_values_stay_values(substituted: Substituted, *, source: str) -> None:
    """Compare what the text parses into with what the file parses into when each value is a plain word: the
    same events (documents, mappings, sequences, aliases, anchors, tags, scalars) in the same order, and the
    same text in every scalar that holds no value. Only the values' own scalars may differ."""
    text = substituted.text
    suspect = [item for item in substituted.inserted if not _PLAIN_VALUE.fullmatch(text[item.start : item.end])]
    if not suspect:
        return
    pieces, position = [], 0
    for item in suspect:
        pieces += [text[position : item.start], _PLACEHOLDER]
        position = item.end
    try:
        file_shape: list[yaml.Event] | None = list(yaml.parse("".join([*pieces, text[position:]]), yaml.SafeLoader))
    except yaml.YAMLError:
        file_shape = None
    try:
        found = list(yaml.parse(text, yaml.SafeLoader))
    except yaml.YAMLError as exc:
        if file_shape is None:
            return  # not valid YAML whatever the values: the file's reader says where
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        # A control character (a ReaderError) has a position instead of a mark.
        culprit = _culprit(suspect, mark.index if mark is not None else getattr(exc, "position", len(text)))
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
        message = f"invalid YAML: {problem}: the value of ${{{culprit.name}}} breaks it"
        raise _value_error(source, culprit, message) from exc
    if file_shape is None:
        raise _value_error(source, suspect[0], _changes(suspect[0], "the file is valid YAML only with it"))
    for expected, event in zip(file_shape, found, strict=False):
        if not _same_event(expected, event):
            culprit = _culprit(suspect, event.start_mark.index if event.start_mark else len(text))
            raise _value_error(source, culprit, _changes(culprit, _added(expected, event)))
    if len(found) != len(file_shape):  # each ends with its stream's end: a difference shows above first
        raise _value_error(source, suspect[-1], _changes(suspect[-1], "it adds YAML the file does not have"))
    _check_values_load(found, suspect, source)


#: Plain scalars YAML 1.1 gives a type the file's reader cannot load: `=` is the "value key" type.
_UNLOADABLE_TAGS = frozenset({"tag:yaml.org,2002:value"})


def _check_values_load(events: Sequence[yaml.Event], suspect: Sequence[Inserted], source: str) -> None:
    """A value that keeps the structure may still be a plain scalar the reader cannot load (`=`): said here,
    with its variable, rather than by the reader with only a line."""
    resolver = yaml.resolver.Resolver()
    for event in events:
        if not isinstance(event, yaml.ScalarEvent) or event.tag is not None or not event.implicit[0]:
            continue
        start = event.start_mark.index if event.start_mark else -1
        if not any(item.start <= start < item.end for item in suspect):
            continue
        if resolver.resolve(yaml.ScalarNode, event.value, event.implicit) in _UNLOADABLE_TAGS:  # type: ignore[no-untyped-call]
            culprit = _culprit(suspect, start)
            raise _value_error(
                source,
                culprit,
                f"YAML reads the value of ${{{culprit.name}}} ({event.value!r}) as a type it cannot load",
            )


def _same_event(expected: yaml.Event, found: yaml.Event) -> bool:
    if type(expected) is not type(found):
        return False
    if isinstance(expected, yaml.NodeEvent) and isinstance(found, yaml.NodeEvent) and expected.anchor != found.anchor:
        return False
    if isinstance(expected, yaml.CollectionStartEvent) and isinstance(found, yaml.CollectionStartEvent):
        return bool(expected.tag == found.tag)
    if isinstance(expected, yaml.ScalarEvent) and isinstance(found, yaml.ScalarEvent):
        return expected.tag == found.tag and (_PLACEHOLDER in expected.value or expected.value == found.value)
    return True


def _added(expected: yaml.Event, found: yaml.Event) -> str:
    if isinstance(found, yaml.DocumentStartEvent) or isinstance(expected, (yaml.DocumentEndEvent, yaml.StreamEndEvent)):
        return "it starts a YAML document the file does not have"
    if isinstance(found, yaml.AliasEvent) or (type(expected) is type(found) and not _same_text(expected, found)):
        return "it holds a YAML alias, anchor or tag"
    if isinstance(expected, yaml.ScalarEvent) and isinstance(found, yaml.CollectionStartEvent):
        return "it makes a mapping or a list where the file has one value"
    return "it adds keys or items the file does not have"


def _same_text(expected: yaml.Event, found: yaml.Event) -> bool:
    """Same anchor and tag: what differs is text (the file's own, moved by the value)."""
    return getattr(expected, "anchor", None) == getattr(found, "anchor", None) and getattr(
        expected, "tag", None
    ) == getattr(found, "tag", None)


def _culprit(suspect: Sequence[Inserted], offset: int) -> Inserted:
    """The value at or last before `offset`: where YAML went wrong because of it."""
    before = [item for item in suspect if item.start <= offset]
    return before[-1] if before else suspect[0]


def _changes(item: Inserted, why: str) -> str:
    return f"the value of ${{{item.name}}} would change the structure of the file: {why}"


def _value_error(source: str, item: Inserted, message: str) -> RenderError:
    return RenderError(message, source=f"{source}:{item.line}", hint=_VALUE_HINT.replace("NAME", item.name))
