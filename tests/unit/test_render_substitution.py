"""`${VAR}` substitution: values, defaults, escapes, and errors that name file and line."""

from __future__ import annotations

import pytest
import yaml

from pipeline_steps.errors import ConfigError, RenderError
from pipeline_steps.manifests.substitution import substitute_yaml
from pipeline_steps.render import referenced_variables, substitute


def render(text: str, **variables: str) -> str:
    return substitute(text, variables, source="deployment.yaml")


def render_error(text: str, **variables: str) -> RenderError:
    with pytest.raises(RenderError) as caught:
        substitute(text, variables, source="deployment.yaml")
    return caught.value


def test_replaces_every_reference_from_the_variables() -> None:
    text = "image: ${REGISTRY}/${APP}:${TAG}\nname: ${APP}\n"
    assert render(text, REGISTRY="reg.example", APP="web", TAG="1.2") == "image: reg.example/web:1.2\nname: web\n"


def test_text_without_references_is_returned_unchanged() -> None:
    text = "a: 1\nb: {c: [1, 2]}\n"
    assert render(text) == text


def test_escape_yields_a_literal_reference_without_needing_the_variable() -> None:
    assert render("cmd: echo $${HOME} ${APP}", APP="web") == "cmd: echo ${HOME} web"


def test_bare_dollars_are_left_alone_for_shell_scripts() -> None:
    text = 'script: for f in $FILES; do echo "$1 $$ $f $ {x}"; done; cost: 5$'
    assert render(text) == text


def test_default_applies_when_the_variable_is_unset() -> None:
    assert render("replicas: ${REPLICAS:-3}") == "replicas: 3"


def test_default_applies_when_the_variable_is_empty_as_in_the_shell() -> None:
    assert render("replicas: ${REPLICAS:-3}", REPLICAS="") == "replicas: 3"


def test_value_wins_over_the_default() -> None:
    assert render("replicas: ${REPLICAS:-3}", REPLICAS="5") == "replicas: 5"


def test_an_explicit_empty_default_gives_the_empty_string() -> None:
    assert render("suffix: '${SUFFIX:-}'") == "suffix: ''"


def test_a_default_may_hold_colons_and_spaces() -> None:
    assert render("url: ${URL:-http://web:8080/a b}") == "url: http://web:8080/a b"


def test_a_variable_set_to_the_empty_string_is_set() -> None:
    assert render("suffix: '${SUFFIX}'", SUFFIX="") == "suffix: ''"


def test_unset_variable_names_file_line_and_how_to_set_it() -> None:
    text = "\n" * 11 + "image: ${IMAGE}\n"
    error = render_error(text)
    assert str(error) == "deployment.yaml:12: ${IMAGE} is not set (set it in the environment or pass --set IMAGE=...)"
    assert error.source == "deployment.yaml:12"
    assert error.hint == "set it in the environment or pass --set IMAGE=..."
    assert isinstance(error, ConfigError)


def test_every_unset_variable_of_the_file_is_reported_in_one_error() -> None:
    text = "a: ${TAG}\nb: ${IMAGE}\nc: ${SET}\nd: ${IMAGE} ${TAG}\ne: ${IMAGE}\nf: ${PORT:-80}\n"
    error = render_error(text, SET="yes")
    assert error.message.splitlines() == [
        "deployment.yaml:1: ${TAG} is not set (also on line 4)",
        "deployment.yaml:2: ${IMAGE} is not set (also on lines 4, 5)",
    ]
    assert error.source == "deployment.yaml:1"
    assert error.hint == "set them in the environment or pass --set TAG=... --set IMAGE=..."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 1\nb: ${IMAGE\n", '"${" is not closed on its line'),
        ("a: 1\nb: ${1ST}\n", '"${1ST}" is not a valid reference'),
        ("a: 1\nb: ${}\n", '"${}" is not a valid reference'),
        ("a: 1\nb: ${my-var}\n", '"${my-var}" is not supported'),
        ("a: 1\nb: ${NAME-default}\n", '"${NAME-default}" is not supported'),
        ("a: 1\nb: ${NAME:?required}\n", '"${NAME:?required}" is not supported'),
        ("a: 1\nb: ${A:-${B}}\n", "a default cannot contain another ${...}"),
    ],
)
def test_malformed_references_name_file_and_line(text: str, problem: str) -> None:
    error = render_error(text, A="1", B="2", NAME="n", IMAGE="i")
    assert str(error).startswith("deployment.yaml:2: ")
    assert problem in error.message
    assert error.hint is not None
    assert "$${" in error.hint


def test_a_reference_does_not_continue_onto_the_next_line() -> None:
    error = render_error("a: ${IMAGE\n}\n", IMAGE="i")
    assert error.message == 'deployment.yaml:1: "${" is not closed on its line'


def test_malformed_and_unset_references_are_reported_together_in_line_order() -> None:
    error = render_error("a: ${MISSING}\nb: ${bad name}\nc: ${ALSO}\n")
    assert str(error).splitlines()[:3] == [
        "deployment.yaml:1: ${MISSING} is not set",
        'deployment.yaml:2: "${bad name}" is not supported: only ${NAME} and ${NAME:-default} are',
        "deployment.yaml:3: ${ALSO} is not set (set them in the environment or pass --set MISSING=... --set ALSO=...;"
        " write ${NAME} or ${NAME:-default} on one line; write $${ for a literal ${)",
    ]


def test_referenced_variables_lists_plain_and_defaulted_names_once() -> None:
    text = "a: ${IMAGE}\nb: ${TAG:-latest} ${IMAGE}\nc: $${ESCAPED} $HOME ${bad name} ${OPEN\n"
    assert referenced_variables(text) == {"IMAGE", "TAG"}


def test_substituted_values_are_not_substituted_again() -> None:
    assert render("a: ${OUTER}", OUTER="${INNER}") == "a: ${INNER}"


# -- a value stays a value (substitute_yaml) --------------------------------------------------------------


def yaml_error(text: str, **variables: str) -> RenderError:
    with pytest.raises(RenderError) as caught:
        substitute_yaml(text, variables, source="cm.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("text", "value", "why"),
    [
        ("data:\n  a: ${X}\n  b: 2\n", "1\n  evil: 1", "it adds keys or items the file does not have"),
        ('data:\n  a: "${X}"\n', 'x"\n---\nkind: Secret\nz: "y', "it starts a YAML document the file does not have"),
        ("args: [${X}]\n", "a, b", "it adds keys or items the file does not have"),
        ("args: [${X}]\n", "k:", "it makes a mapping or a list where the file has one value"),
        ("data:\n  a: ${X}\n", "{b: 1}", "it makes a mapping or a list where the file has one value"),
        ("a: &x {k: 1}\nb: ${X}\n", "*x", "it holds a YAML alias, anchor or tag"),
        ("a: ${X}\n", "!!binary aGk=", "it holds a YAML alias, anchor or tag"),
        ("# built from ${X}\na: 1\n", "\nevil: 1", "it adds keys or items the file does not have"),
    ],
)
def test_a_value_that_would_add_yaml_is_refused_naming_the_variable_and_its_line(
    text: str, value: str, why: str
) -> None:
    error = yaml_error("\n" * 9 + text, X=value)
    assert error.source == f"cm.yaml:{10 + text[: text.index('${X}')].count(chr(10))}"
    assert error.message.endswith(f": the value of ${{X}} would change the structure of the file: {why}")
    assert error.hint is not None and "keep line breaks" in error.hint and '"${X}"' in error.hint


def test_a_value_that_breaks_the_yaml_is_refused_with_the_parser_s_problem() -> None:
    error = yaml_error("a:\n  b: ${X}\n  c: 1\n", X="x\n  - y")
    assert str(error).startswith("cm.yaml:2: invalid YAML: ")
    assert "the value of ${X} breaks it" in error.message


@pytest.mark.parametrize(
    ("text", "value", "parsed"),
    [
        ('a: "${X}"\n', "b: c # d {e} [f] --- 'g' *h &i !j", {"a": "b: c # d {e} [f] --- 'g' *h &i !j"}),
        ("a: '${X}'\n", 'say "hi": now', {"a": 'say "hi": now'}),
        (
            "a: ${X}\n",
            "registry.local:5000/web@sha256:" + "a" * 64,
            {"a": "registry.local:5000/web@sha256:" + "a" * 64},
        ),
        ('a: "${X}"\nb: 2\n', "two\nlines", {"a": "two lines", "b": 2}),
        ("a: ${X}  # note\n", "plain text", {"a": "plain text"}),
    ],
)
def test_a_value_with_yaml_syntax_inside_its_own_value_is_kept(text: str, value: str, parsed: object) -> None:
    assert yaml.safe_load(substitute_yaml(text, {"X": value}, source="cm.yaml").text) == parsed


def test_a_default_is_part_of_the_file_and_may_hold_yaml() -> None:
    assert yaml.safe_load(substitute_yaml("a: ${LIST:-[1, 2]}\n", {}, source="cm.yaml").text) == {"a": [1, 2]}


def test_lines_after_a_value_with_line_breaks_keep_their_number_in_the_file() -> None:
    substituted = substitute_yaml('a: "${X}"\nb: 2\n', {"X": "one\ntwo\nthree"}, source="cm.yaml")
    assert substituted.line_at(substituted.text.index("b:")) == 2
    assert substituted.line_at(substituted.text.index("three")) == 1
    assert [(item.name, item.line) for item in substituted.inserted] == [("X", 1)]
