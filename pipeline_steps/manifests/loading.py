"""Manifest files -> Manifests: expand paths and globs, substitute, parse with positions, upgrade, de-duplicate."""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline_steps.errors import RenderError
from pipeline_steps.manifests.legacy import upgrade_legacy
from pipeline_steps.manifests.model import Manifest
from pipeline_steps.manifests.substitution import Substituted, referenced_variables, substitute_yaml

_GLOB_CHARACTERS = frozenset("*?[")
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


def load_manifests(
    patterns: Sequence[str],
    *,
    base_dir: Path,
    variables: Mapping[str, str],
    unset_value: Callable[[str], str] | None = None,
) -> tuple[list[Manifest], list[str]]:
    """Load every object the patterns name, in pattern order (sorted within a glob).

    Returns the manifests and the warnings of legacy API conversions. Raises RenderError naming file:line.
    """
    if not patterns:
        raise RenderError("no manifest files given", hint="list the manifest files or globs, e.g. [k8s/*.yaml]")
    manifests: list[Manifest] = []
    warnings: list[str] = []
    for source, path in expand_patterns(patterns, base_dir=base_dir):
        text = _read(source, path)
        substituted = substitute_yaml(text, variables, source=source, unset_value=unset_value)
        for index, line, data in _documents(substituted, source, original=text):
            body = _checked_body(data, source, line, index)
            where = f"{source}:{line} ({body['kind']}/{body['metadata']['name']})"
            body, warning = upgrade_legacy(body, where)
            if warning:
                warnings.append(warning)
            manifests.append(Manifest(source=source, index=index, line=line, body=body))
    _reject_duplicates(manifests)
    return manifests, warnings


def expand_patterns(patterns: Sequence[str], *, base_dir: Path) -> list[tuple[str, Path]]:
    """(source as shown, path) of each file, in order; a file named twice is loaded once."""
    files: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for pattern in patterns:
        for source in _expand_one(pattern, base_dir):
            path = base_dir / source
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append((source, path))
    return files


def _expand_one(pattern: str, base_dir: Path) -> list[str]:
    if _GLOB_CHARACTERS & set(pattern):
        matches = sorted(
            match for match in glob.glob(pattern, root_dir=base_dir, recursive=True) if (base_dir / match).is_file()
        )
        if not matches:
            raise RenderError(
                f"{pattern!r} matches no file in {base_dir}",
                field="manifests",
                hint="check the pattern; it is relative to the directory of pipeline.yaml",
            )
        return matches
    path = base_dir / pattern
    if path.is_dir():
        inside = sorted(child.name for child in path.iterdir() if child.is_file() and child.suffix in _YAML_SUFFIXES)
        if not inside:
            raise RenderError(f"directory {pattern!r} holds no .yaml, .yml or .json file", field="manifests")
        return [f"{pattern.rstrip('/')}/{name}" for name in inside]
    if not path.is_file():
        raise RenderError(
            f"{pattern!r} does not exist in {base_dir}",
            field="manifests",
            hint="check the path; it is relative to the directory of pipeline.yaml",
        )
    return [pattern]


def _read(source: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from exc
    except OSError as exc:
        raise RenderError(f"cannot be read: {exc.strerror or exc}", source=source) from exc


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping, which plain PyYAML resolves silently."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise ConstructorError(None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _documents(substituted: Substituted, source: str, *, original: str) -> Iterator[tuple[int, int, Any]]:
    """(document index, first line, data) of each non-empty document; the items of a `kind: List` one by one."""
    try:
        loader = StrictLoader(substituted.text)  # refuses a control character at once
    except yaml.reader.ReaderError as exc:
        line = substituted.line_at(exc.position)
        problem = str(exc).splitlines()[0]
        raise RenderError(
            f"invalid YAML: {problem}", source=f"{source}:{line}", hint="remove it: YAML text is printable"
        ) from exc
    try:
        index = 0
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
                data = None if node is None else loader.construct_document(node)
            except yaml.MarkedYAMLError as exc:
                raise _yaml_error(exc, source, original, substituted) from exc
            except yaml.YAMLError as exc:
                raise RenderError(f"invalid YAML: {exc}", source=source) from exc
            if node is not None and data is not None:
                yield from _flatten(data, node, index, substituted)
            index += 1
    finally:
        loader.dispose()


def _flatten(data: Any, node: Node, index: int, substituted: Substituted) -> Iterator[tuple[int, int, Any]]:
    line = substituted.line_at(node.start_mark.index)
    items = data.get("items") if isinstance(data, dict) and str(data.get("kind", "")).endswith("List") else None
    if not isinstance(items, list) or not isinstance(node, MappingNode):
        yield index, line, data
        return
    item_nodes: list[Node] = next(
        (value.value for key, value in node.value if key.value == "items" and isinstance(value, SequenceNode)), []
    )
    for item, item_node in zip(items, item_nodes, strict=True):
        yield from _flatten(item, item_node, index, substituted)


def _yaml_error(exc: yaml.MarkedYAMLError, source: str, original: str, substituted: Substituted) -> RenderError:
    mark = exc.problem_mark or exc.context_mark
    line = substituted.line_at(mark.index) if mark is not None else 0
    problem = exc.problem or exc.context or "invalid YAML"
    context = ""
    if exc.context and exc.problem:  # where the construct that went wrong began, e.g. an unclosed [
        began = f" on line {substituted.line_at(exc.context_mark.index)}" if exc.context_mark else ""
        context = f" ({exc.context}{began})"
    hint = "check the indentation and quoting around this line"
    if problem.startswith("duplicate key"):
        hint = "a key may appear once in a mapping: remove one of them"
    line_text = original.splitlines()[line - 1] if 0 < line <= len(original.splitlines()) else ""
    if referenced_variables(line_text):
        hint = "a ${VAR} is inserted as text before parsing: quote it if its value holds ': ', '#' or starts with '*'"
    return RenderError(f"invalid YAML: {problem}{context}", source=f"{source}:{line}" if line else source, hint=hint)


def _checked_body(data: Any, source: str, line: int, index: int) -> dict[str, Any]:
    where = f"{source}:{line}"
    if not isinstance(data, dict):
        raise RenderError(
            f"document {index} is a {type(data).__name__}, not a mapping",
            source=where,
            hint="a manifest is a mapping with apiVersion, kind and metadata.name",
        )
    metadata = data.get("metadata")
    present = {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
        "metadata.name": metadata.get("name") if isinstance(metadata, dict) else None,
    }
    missing = [field for field, value in present.items() if value is None or value == ""]
    if missing:
        raise RenderError(
            f"{'is' if len(missing) == 1 else 'are'} required (document {index} of the file has no value)",
            source=where,
            field=", ".join(missing),
            hint="every manifest needs apiVersion, kind and metadata.name",
        )
    not_text = [field for field, value in present.items() if not isinstance(value, str)]
    if not_text:
        raise RenderError(
            f"is {present[not_text[0]]!r}, not a string",
            source=where,
            field=not_text[0],
            hint="quote the value so YAML reads it as text",
        )
    return data


def _reject_duplicates(manifests: Sequence[Manifest]) -> None:
    first_seen: dict[tuple[str, str, str], Manifest] = {}
    for manifest in manifests:
        key = (manifest.kind, manifest.namespace or "", manifest.name)
        earlier = first_seen.setdefault(key, manifest)
        if earlier is not manifest:
            namespace = f" in namespace {manifest.namespace}" if manifest.namespace else ""
            raise RenderError(
                f"{manifest.kind}/{manifest.name}{namespace} is defined twice: "
                f"at {earlier.source}:{earlier.line} and at {manifest.source}:{manifest.line}",
                source=f"{manifest.source}:{manifest.line}",
                hint="remove one of them, or give them different metadata.name values",
            )
