"""Parsing and formatting image references the way docker and every registry read them."""

from __future__ import annotations

import pytest

from pipeline_steps.errors import ConfigError
from pipeline_steps.image import ImageReference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("team/app:v1", "docker.io", "team/app", "v1", None),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("index.docker.io/team/app", "docker.io", "team/app", "latest", None),
        ("ghcr.io/org/team/app:2024.11.3-rc_1", "ghcr.io", "org/team/app", "2024.11.3-rc_1", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:v2", "localhost:5000", "app", "v2", None),
        ("127.0.0.1:5000/demo/app:v1", "127.0.0.1:5000", "demo/app", "v1", None),
        ("[::1]:5000/demo/app", "[::1]:5000", "demo/app", "latest", None),
        ("Registry/app", "Registry", "app", "latest", None),  # capitals make it a host, as in docker
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", None, DIGEST),
        (f"ghcr.io/org/app:v1@{DIGEST}", "ghcr.io", "org/app", "v1", DIGEST),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, DIGEST),
        ("my-registry.example.com:443/a__b/c-d.e:TAG", "my-registry.example.com:443", "a__b/c-d.e", "TAG", None),
    ],
)
def test_parse(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    assert ImageReference.parse(text) == ImageReference(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "formatted"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("team/app:v1", "docker.io/team/app:v1"),
        ("127.0.0.1:5000/demo/app:v1", "127.0.0.1:5000/demo/app:v1"),
        (f"ghcr.io/org/app:v1@{DIGEST}", f"ghcr.io/org/app:v1@{DIGEST}"),
        (f"ghcr.io/org/app@{DIGEST}", f"ghcr.io/org/app@{DIGEST}"),
    ],
)
def test_format_is_fully_qualified_and_parses_back(text: str, formatted: str) -> None:
    ref = ImageReference.parse(text)

    assert str(ref) == formatted
    assert ImageReference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Team/App:v1", "repository component 'App'"),
        ("ghcr.io/org//app", "repository component ''"),
        ("ghcr.io/org/app:", "tag ''"),
        ("ghcr.io/org/app:-v1", "tag '-v1'"),
        ("ghcr.io/org/app:" + "x" * 129, "tag"),
        ("ghcr.io/org/app@sha256:abc", "not algorithm:hex"),
        ("ghcr.io/org/app@sha256:" + "AB" * 32, "64 lower-case hex"),
        ("ghcr.io/org/app@" + DIGEST + "@" + DIGEST, "digest"),
        ("reg_istry.io/app", "registry 'reg_istry.io'"),  # the dot makes it a host, and hosts have no "_"
        ("-bad.io/app", "registry '-bad.io'"),
        ("ghcr.io/" + "a" * 250, "longer than 255"),
    ],
)
def test_invalid_references_say_why(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match="invalid image reference") as raised:
        ImageReference.parse(text, source="pipeline.yaml", field="image.ref")

    assert why in str(raised.value)
    assert raised.value.source == "pipeline.yaml"
    assert raised.value.field == "image.ref"
    assert str(raised.value).startswith("pipeline.yaml: image.ref: ")


def test_with_digest_pins_the_repository_and_drops_the_tag() -> None:
    ref = ImageReference.parse("127.0.0.1:5000/demo/app:v1")

    pinned = ref.with_digest(DIGEST)

    assert str(pinned) == f"127.0.0.1:5000/demo/app@{DIGEST}"
    assert pinned.reference == DIGEST
    assert ref.reference == "v1"


def test_with_digest_rejects_what_is_not_a_digest() -> None:
    with pytest.raises(ConfigError, match="sha256"):
        ImageReference.parse("app:v1").with_digest("sha256:1234")


def test_with_tag_replaces_tag_and_digest() -> None:
    pinned = ImageReference.parse(f"ghcr.io/org/app:v1@{DIGEST}")

    assert str(pinned.with_tag("v2")) == "ghcr.io/org/app:v2"


def test_a_reference_needs_a_tag_or_a_digest() -> None:
    with pytest.raises(ConfigError, match="neither tag nor digest"):
        ImageReference("ghcr.io", "org/app", tag=None, digest=None)


def test_name_leaves_out_tag_and_digest() -> None:
    assert ImageReference.parse(f"nginx:1@{DIGEST}").name == "docker.io/library/nginx"
