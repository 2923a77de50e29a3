"""Loading manifest files: patterns, documents and their lines, shape errors, duplicates, rendered output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline_steps.errors import RenderError
from pipeline_steps.render import Manifest, load_manifests, manifest_to_yaml

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def write(base: Path, name: str, text: str) -> None:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def load(base: Path, *patterns: str, **variables: str) -> list[Manifest]:
    manifests, warnings = load_manifests(patterns, base_dir=base, variables=variables)
    assert warnings == []
    return manifests


def load_error(base: Path, *patterns: str, **variables: str) -> RenderError:
    with pytest.raises(RenderError) as caught:
        load_manifests(patterns, base_dir=base, variables=variables)
    return caught.value


def test_documents_keep_their_file_line_and_index_and_empty_ones_are_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app.yaml",
        "# the app\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first\n"
        "---\n"
        "---\n# only a comment\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: prod\n  labels: {app: web}\n"
        "spec: {selector: {app: web}}\n"
        "---\n",
    )
    first, second = load(tmp_path, "app.yaml")
    assert (first.source, first.index, first.line, first.where) == ("app.yaml", 0, 2, "app.yaml:2 (ConfigMap/first)")
    assert (second.index, second.line, second.where) == (3, 10, "app.yaml:10 (Service/web)")
    assert (second.api_version, second.kind, second.name, second.namespace) == ("v1", "Service", "web", "prod")
    assert second.labels == {"app": "web"}
    assert first.namespace is None
    assert first.labels == {}


def test_variables_are_substituted_before_parsing(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="${NAME}") + "data:\n  replicas: ${REPLICAS}\n")
    (manifest,) = load(tmp_path, "cm.yaml", NAME="settings", REPLICAS="3")
    assert manifest.name == "settings"
    assert manifest.body["data"] == {"replicas": 3}


def test_an_unset_variable_names_the_file_and_its_line(tmp_path: Path) -> None:
    write(tmp_path, "k8s/deployment.yaml", CONFIG_MAP.format(name="web") + "data:\n  image: ${IMAGE}\n")
    error = load_error(tmp_path, "k8s/deployment.yaml")
    assert str(error).startswith("k8s/deployment.yaml:6: ${IMAGE} is not set")


def test_a_list_is_flattened_into_its_items_with_their_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n"
        "  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: b}\n",
    )
    manifests = load(tmp_path, "list.yaml")
    assert [(manifest.name, manifest.line, manifest.index) for manifest in manifests] == [("a", 4, 0), ("b", 7, 0)]


def test_an_empty_list_yields_nothing(tmp_path: Path) -> None:
    write(tmp_path, "list.yaml", "apiVersion: v1\nkind: List\nitems: []\n---\n" + CONFIG_MAP.format(name="a"))
    assert [manifest.name for manifest in load(tmp_path, "list.yaml")] == ["a"]


def test_a_glob_is_sorted_and_patterns_keep_their_order(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        write(tmp_path, f"k8s/{name}.yaml", CONFIG_MAP.format(name=name))
    write(tmp_path, "k8s/notes.txt", "not a manifest")
    write(tmp_path, "first.yaml", CONFIG_MAP.format(name="first"))
    manifests = load(tmp_path, "first.yaml", "k8s/*.yaml")
    assert [(manifest.source, manifest.name) for manifest in manifests] == [
        ("first.yaml", "first"),
        ("k8s/a.yaml", "a"),
        ("k8s/b.yaml", "b"),
        ("k8s/c.yaml", "c"),
    ]


def test_a_recursive_glob_reaches_subdirectories(tmp_path: Path) -> None:
    write(tmp_path, "k8s/base/a.yaml", CONFIG_MAP.format(name="a"))
    write(tmp_path, "k8s/b.yaml", CONFIG_MAP.format(name="b"))
    assert [manifest.source for manifest in load(tmp_path, "k8s/**/*.yaml")] == ["k8s/b.yaml", "k8s/base/a.yaml"]


def test_a_directory_loads_its_yaml_files_sorted(tmp_path: Path) -> None:
    write(tmp_path, "k8s/b.yml", CONFIG_MAP.format(name="b"))
    write(tmp_path, "k8s/a.yaml", CONFIG_MAP.format(name="a"))
    write(tmp_path, "k8s/README.md", "# docs")
    assert [manifest.source for manifest in load(tmp_path, "k8s/")] == ["k8s/a.yaml", "k8s/b.yml"]


def test_a_file_named_by_two_patterns_is_loaded_once(tmp_path: Path) -> None:
    write(tmp_path, "k8s/a.yaml", CONFIG_MAP.format(name="a"))
    assert [manifest.name for manifest in load(tmp_path, "k8s/a.yaml", "k8s/*.yaml")] == ["a"]


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "k8s/a.yaml", CONFIG_MAP.format(name="a"))
    error = load_error(tmp_path, "k8s/*.yaml", "deploy/*.yaml")
    assert "'deploy/*.yaml' matches no file" in str(error)
    assert str(tmp_path) in str(error)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path, "missing.yaml")
    assert "'missing.yaml' does not exist" in str(error)


def test_no_patterns_is_an_error(tmp_path: Path) -> None:
    assert "no manifest files" in str(load_error(tmp_path))


def test_yaml_errors_name_file_line_and_the_parser_problem(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", CONFIG_MAP.format(name="web") + "data:\n  a: [1, 2\n  b: 3\n")
    error = load_error(tmp_path, "bad.yaml")
    assert str(error).startswith("bad.yaml:7: invalid YAML: ")
    assert "expected ',' or ']'" in str(error)


def test_a_yaml_error_on_a_substituted_line_suggests_quoting(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="web") + "data:\n  greeting: ${GREETING}\n")
    error = load_error(tmp_path, "cm.yaml", GREETING="note: hello")
    assert str(error).startswith("cm.yaml:6: invalid YAML: mapping values are not allowed here")
    assert error.hint is not None
    assert "quote" in error.hint


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="web") + "data:\n  a: 1\n  a: 2\n")
    assert str(load_error(tmp_path, "cm.yaml")).startswith("cm.yaml:7: invalid YAML: duplicate key 'a'")


def test_a_document_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "list.yaml", CONFIG_MAP.format(name="web") + "---\n- a\n- b\n")
    error = load_error(tmp_path, "list.yaml")
    assert str(error).startswith("list.yaml:6: document 1 is a list, not a mapping")


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "kind"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n", "metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\n", "metadata.name"),
        ("data: {}\n", "apiVersion, kind, metadata.name"),
    ],
)
def test_a_document_without_the_required_fields_names_them(tmp_path: Path, text: str, missing: str) -> None:
    write(tmp_path, "cm.yaml", "# header\n" + text)
    error = load_error(tmp_path, "cm.yaml")
    assert str(error).startswith(f"cm.yaml:2: {missing}: ")
    assert error.field == missing


def test_a_name_that_yaml_reads_as_a_number_must_be_quoted(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="2024"))
    error = load_error(tmp_path, "cm.yaml")
    assert str(error).startswith("cm.yaml:1: metadata.name: is 2024, not a string")
    assert error.hint is not None
    assert "quote" in error.hint


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"apiVersion: v1\n\xff\xfe\n")
    assert str(load_error(tmp_path, "bin.yaml")).startswith("bin.yaml: is not UTF-8 text")


def test_the_same_object_in_two_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", CONFIG_MAP.format(name="settings"))
    write(tmp_path, "b.yaml", CONFIG_MAP.format(name="other") + "---\n" + CONFIG_MAP.format(name="settings"))
    error = load_error(tmp_path, "a.yaml", "b.yaml")
    assert "ConfigMap/settings is defined twice: at a.yaml:1 and at b.yaml:6" in str(error)


def test_same_name_in_another_namespace_or_of_another_kind_is_not_a_duplicate(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        CONFIG_MAP.format(name="web")
        + "---\n"
        + CONFIG_MAP.format(name="web")
        + "  namespace: other\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: web}\n",
    )
    assert len(load(tmp_path, "a.yaml")) == 3


def test_rendered_yaml_round_trips_in_order_with_key_order_kept(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app.yaml",
        CONFIG_MAP.format(name="zeta") + "data:\n  z: 'last'\n  a: 'é'\n---\n" + CONFIG_MAP.format(name="alpha"),
    )
    manifests = load(tmp_path, "app.yaml")
    rendered = manifest_to_yaml(manifests)
    assert list(yaml.safe_load_all(rendered)) == [manifest.body for manifest in manifests]
    assert rendered.startswith("---\n# Source: app.yaml:1\napiVersion: v1\nkind: ConfigMap\n")
    assert "---\n# Source: app.yaml:9\napiVersion: v1\n" in rendered
    assert rendered.index("z: last") < rendered.index("a: é")


def test_rendered_yaml_keeps_long_values_on_one_line(tmp_path: Path) -> None:
    long_value = "x " * 100
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="a") + f"data:\n  long: '{long_value}'\n")
    rendered = manifest_to_yaml(load(tmp_path, "cm.yaml"))
    assert f"  long: '{long_value}'\n" in rendered


def test_nothing_renders_to_the_empty_string() -> None:
    assert manifest_to_yaml([]) == ""


def test_objects_after_a_value_with_line_breaks_keep_their_lines_in_the_file(tmp_path: Path) -> None:
    write(
        tmp_path, "app.yaml", CONFIG_MAP.format(name="a") + 'data: {pem: "${PEM}"}\n---\n' + CONFIG_MAP.format(name="b")
    )
    first, second = load(tmp_path, "app.yaml", PEM="-----BEGIN-----\nAAAA\n-----END-----")
    assert (first.line, second.line) == (1, 7)
    assert first.body["data"]["pem"] == "-----BEGIN----- AAAA -----END-----"


def test_a_value_adding_an_object_is_refused_before_any_object_is_read(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="web") + 'data:\n  greeting: "${GREETING}"\n')
    error = load_error(tmp_path, "cm.yaml", GREETING='hi"\n---\n' + CONFIG_MAP.format(name="evil") + 'z: "y')
    assert str(error).startswith("cm.yaml:6: the value of ${GREETING} would change the structure of the file")


def test_a_control_character_is_an_error_naming_its_line(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="web") + "data:\n  a: b\x07\n")
    error = load_error(tmp_path, "cm.yaml")
    assert str(error).startswith("cm.yaml:6: invalid YAML: unacceptable character #x0007")


def test_a_yaml_error_says_where_the_construct_that_went_wrong_began(tmp_path: Path) -> None:
    write(tmp_path, "cm.yaml", CONFIG_MAP.format(name="web") + "data: {a: b,\n  c: [1, 2\n  d: 3\n")
    error = load_error(tmp_path, "cm.yaml")
    assert "(while parsing a flow sequence on line 6)" in error.message
