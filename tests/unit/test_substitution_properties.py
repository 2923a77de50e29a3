"""`${VAR}` substitution on generated values: a value is refused or stays a value. It never adds a key, a list
item or a document to the file, whatever YAML syntax it holds (line breaks, ': ', '---', quotes, brackets,
'#', anchors, tags), and nothing but the project's RenderError leaves the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps.errors import RenderError
from pipeline_steps.manifests.substitution import substitute_yaml
from pipeline_steps.render import load_manifests

EXAMPLES = settings(max_examples=200, deadline=None)

#: The places a reference stands in real files: plain, quoted and block scalars, flow and block collections,
#: part of a longer value, several on one line, a comment.
MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings  # release ${X}
  labels: {app: web, release: "${X}"}
data:
  plain: ${X}
  double: "${X}"
  single: '${X}'
  inside: web-${X}-x
  block: |
    first line ${X}
    second line
  folded: >
    ${X}
  list: [a, ${X}, "${X}"]
  pair: ${X} and ${X}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.local/web:${X}
          args:
            - ${X}
            - --flag=${X}
          env:
            - {name: A, value: "${X}"}
            - name: B
              value: ${X}
"""
CONFIG = """\
app: web
manifests: [app.yaml]
confirm:
  mode: ${X}
  approvers: ["${X}"]
verify:
  prod:
    - name: ${X}
      http: {path: /, body_regex: "${X}"}
"""
TEMPLATES = [MANIFESTS, CONFIG, *MANIFESTS.split("---\n")]

#: YAML's own syntax, and the line breaks it knows besides \n.
SYNTAX = ["\n", "\r\n", "\r", "\x85", "\u2028", ": ", ":", "- ", "-", "---", "...", "{", "}", "[", "]", ",", "#"]
SYNTAX += [" #", "'", '"', "&a ", "*a", "!!str ", "!t ", "|", ">", "? ", "%", "@", "`", "\t", " ", "\\", "\\n"]
SYNTAX += ["\n  ", "\n    ", "\n          ", "key: value", "\nevil: 1", "\n  evil: 1", "\n---\nkind: Secret\n"]
values = st.one_of(
    st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=4)), min_size=1, max_size=8).map("".join),
    st.text(min_size=1),
)


def key_paths(node: Any, path: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    """The path of every key, with list positions on the way: a new key or list item shows as a new path."""
    found: set[tuple[Any, ...]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found |= {(*path, key)} | key_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found |= {(*path, index)} | key_paths(value, (*path, index))
    return found


def shape(text: str) -> tuple[int, set[tuple[Any, ...]]]:
    documents = list(yaml.safe_load_all(text))
    return len(documents), {(index, *path) for index, document in enumerate(documents) for path in key_paths(document)}


@EXAMPLES
@given(template=st.sampled_from(TEMPLATES), value=values)
def test_a_value_is_refused_or_adds_no_key_item_or_document(template: str, value: str) -> None:
    try:
        substituted = substitute_yaml(template, {"X": value}, source="app.yaml")
    except RenderError as error:
        assert error.source is not None and error.source.startswith("app.yaml:"), error
        assert "${X}" in error.message, error
        return
    assert substituted.text == template.replace("${X}", value)
    try:
        found = shape(substituted.text)
    except yaml.YAMLError:
        assert value == "", value  # an empty value (never checked: it holds no syntax) may leave `key: ` or `[a, ]`
        return  # the file's reader refuses it, with the line
    assert found == shape(template.replace("${X}", "v"))


def test_a_value_yaml_reads_as_a_type_it_cannot_load_is_refused_with_its_variable() -> None:
    with pytest.raises(RenderError) as raised:
        substitute_yaml('data:\n  plain: ${X}\n  kept: "${X}"\n', {"X": "="}, source="app.yaml")
    assert raised.value.source == "app.yaml:2" and "${X} ('=')" in raised.value.message
    # Quoted, the same value is a string like any other.
    assert substitute_yaml('data:\n  kept: "${X}"\n', {"X": "="}, source="app.yaml").text == 'data:\n  kept: "="\n'


@EXAMPLES
@given(value=values)
def test_manifests_loaded_with_any_value_hold_the_objects_of_the_file(tmp_path_factory: Any, value: str) -> None:
    base = tmp_path_factory.mktemp("manifests")
    (base / "app.yaml").write_text(MANIFESTS, encoding="utf-8")
    try:
        manifests, _ = load_manifests(["app.yaml"], base_dir=base, variables={"X": value})
    except RenderError:
        return
    expected, _ = load_manifests(["app.yaml"], base_dir=base, variables={"X": "v"})
    assert [(m.kind, m.line) for m in manifests] == [(m.kind, m.line) for m in expected]
    assert [key_paths(m.body) for m in manifests] == [key_paths(m.body) for m in expected]


@EXAMPLES
@given(
    pieces=st.lists(st.one_of(st.sampled_from([*SYNTAX, "${X}", "${X}", "$${X}", "a", "b: c"]), st.text(max_size=3))),
    value=values,
)
def test_any_text_with_any_value_is_substituted_or_refused_with_a_render_error(pieces: list[str], value: str) -> None:
    template = "".join(pieces)
    try:
        substituted = substitute_yaml(template, {"X": value}, source="app.yaml")
    except RenderError:
        return
    for inserted in substituted.inserted:
        assert substituted.text[inserted.start : inserted.end] == value


@pytest.mark.parametrize(
    ("template", "value", "why"),
    [
        ("a:\n  b: ${X}\n", "hi\n  evil: 1", "adds keys"),
        ("a:\n  b: ${X}\n", "x\n  - y", "breaks it"),
        ('a: "${X}"\n', 'x"\n---\nkind: Secret\nz: "y', "starts a YAML document"),
        ("a: ${X}\n", "[1, 2]", "makes a mapping or a list"),
        ("a: &anchor 1\nb: ${X}\n", "*anchor", "alias, anchor or tag"),
    ],
)
def test_the_generators_reach_the_refusals(template: str, value: str, why: str) -> None:
    """The properties above are not vacuous: these values are refused, each for its reason."""
    with pytest.raises(RenderError) as caught:
        substitute_yaml(template, {"X": value}, source="app.yaml")
    assert why in str(caught.value)


def test_a_value_with_yaml_syntax_in_quotes_stays_one_string(tmp_path: Path) -> None:
    value = "a: b # c {d} [e] --- 'f' *g &h !i"
    substituted = substitute_yaml('greeting: "${X}"\n', {"X": value}, source="app.yaml")
    assert yaml.safe_load(substituted.text) == {"greeting": value}
