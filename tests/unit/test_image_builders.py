"""The image.build section: what it accepts, what it refuses and the exact commands it plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import ConfigError
from pipeline_steps.image import Builder, BuildSpec, ImageReference, plan_build

TAG = "registry.example.com:5000/team/app:v1"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Containerfile").write_text("FROM scratch\n")
    return tmp_path


def parse(base: Path, environ: dict[str, str] | None = None, **config: Any) -> BuildSpec:
    data = {"context": "app", "tag": TAG, **config}
    return BuildSpec.from_mapping(data, source="pipeline.yaml", base_dir=base, environ=environ or {})


def test_defaults(base: Path) -> None:
    spec = parse(base)

    assert spec == BuildSpec(
        builder=Builder.BUILDAH,
        tag=ImageReference.parse(TAG),
        context=base / "app",
        containerfile=base / "app" / "Containerfile",
    )
    assert spec.push and spec.tls_verify


def test_buildah_plan(base: Path) -> None:
    spec = parse(
        base,
        storage_driver="vfs",
        isolation="chroot",
        tls_verify=False,
        build_args={"VERSION": "1.10", "GIT_SHA": "abc123"},
        extra_args=["--layers", "--label=org.example.team=web"],
    )

    assert plan_build(spec) == [
        [
            "buildah", "--storage-driver", "vfs", "bud", "--isolation", "chroot", "--tls-verify=false",
            "-t", TAG, "-f", str(base / "app" / "Containerfile"),
            "--build-arg=VERSION=1.10", "--build-arg=GIT_SHA=abc123", "--layers", "--label=org.example.team=web",
            str(base / "app"),
        ],
        ["buildah", "--storage-driver", "vfs", "push", "--tls-verify=false", TAG, f"docker://{TAG}"],
    ]  # fmt: skip


def test_buildah_plan_without_storage_options_leaves_them_to_buildah(base: Path) -> None:
    assert plan_build(parse(base)) == [
        ["buildah", "bud", "-t", TAG, "-f", str(base / "app" / "Containerfile"), str(base / "app")],
        ["buildah", "push", "--tls-verify=true", TAG, f"docker://{TAG}"],
    ]


def test_buildah_storage_and_isolation_default_from_the_environment(base: Path) -> None:
    environ = {"BUILDAH_STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}

    from_env = parse(base, environ)
    explicit = parse(base, environ, storage_driver="overlay", isolation="oci")

    assert (from_env.storage_driver, from_env.isolation) == ("vfs", "chroot")
    assert (explicit.storage_driver, explicit.isolation) == ("overlay", "oci")
    assert plan_build(from_env)[0][:6] == ["buildah", "--storage-driver", "vfs", "bud", "--isolation", "chroot"]


def test_a_bad_isolation_in_the_environment_is_named(base: Path) -> None:
    with pytest.raises(ConfigError, match="BUILDAH_ISOLATION='vm'") as raised:
        parse(base, {"BUILDAH_ISOLATION": "vm"})

    assert raised.value.source == "environment"


def test_podman_plan(base: Path) -> None:
    spec = parse(base, builder="podman", isolation="chroot", build_args={"A": "1"})

    assert plan_build(spec) == [
        [
            "podman", "build", "--isolation", "chroot", "-t", TAG, "-f", str(base / "app" / "Containerfile"),
            "--build-arg=A=1", str(base / "app"),
        ],
        ["podman", "push", "--tls-verify=true", TAG, f"docker://{TAG}"],
    ]  # fmt: skip


def test_docker_plan_without_push(base: Path) -> None:
    spec = parse(base, builder="docker", push=False, containerfile="Containerfile")

    assert plan_build(spec) == [
        ["docker", "build", "-t", TAG, "-f", str(base / "app" / "Containerfile"), str(base / "app")],
    ]


def test_docker_plan_pushes_by_default(base: Path) -> None:
    assert plan_build(parse(base, builder="docker"))[1] == ["docker", "push", TAG]


def test_short_tags_are_planned_fully_qualified(base: Path) -> None:
    spec = parse(base, tag="app")

    assert plan_build(spec)[1][-2:] == ["docker.io/library/app:latest", "docker://docker.io/library/app:latest"]


def test_command_builder_substitutes_placeholders_and_keeps_other_braces(base: Path) -> None:
    spec = parse(base, builder="command", command=["make", "image", "IMAGE={image}", "CTX={context}", "X=${HOME}"])

    assert plan_build(spec) == [["make", "image", f"IMAGE={TAG}", f"CTX={base / 'app'}", "X=${HOME}"]]


def test_command_builder_context_defaults_to_the_config_directory(base: Path) -> None:
    spec = BuildSpec.from_mapping(
        {"builder": "command", "tag": TAG, "command": ["true"]}, source="pipeline.yaml", base_dir=base
    )

    assert spec.context == base.resolve()
    assert spec.containerfile is None


def test_dockerfile_is_found_when_there_is_no_containerfile(base: Path) -> None:
    (base / "app" / "Containerfile").unlink()
    (base / "app" / "Dockerfile").write_text("FROM scratch\n")

    assert parse(base).containerfile == base / "app" / "Dockerfile"


def test_a_containerfile_elsewhere_is_relative_to_the_context(base: Path) -> None:
    (base / "build").mkdir()
    (base / "build" / "App.containerfile").write_text("FROM scratch\n")

    assert parse(base, containerfile="../build/App.containerfile").containerfile == base / "build" / "App.containerfile"


@pytest.mark.parametrize(
    ("config", "field", "message", "hint"),
    [
        ({"dockerfile": "Dockerfile"}, "image.build.dockerfile", "unknown key", "did you mean 'containerfile'?"),
        ({"buid_args": {}}, "image.build.buid_args", "unknown key", "did you mean 'build_args'?"),
        ({"builder": "kaniko"}, "image.build.builder", "unknown builder 'kaniko'", "buildah, docker, podman, command"),
        ({"context": None}, "image.build.context", "missing", "directory to build from"),
        ({"context": "nowhere"}, "image.build.context", "is not a directory", "relative to the config"),
        ({"context": 3}, "image.build.context", "must be a string, not int 3", None),
        ({"tag": None}, "image.build.tag", "missing", "reference to push to"),
        ({"tag": "Team/App"}, "image.build.tag", "invalid image reference 'Team/App'", "[registry[:port]/]"),
        ({"tag": f"app@sha256:{'a' * 64}"}, "image.build.tag", "has a digest", "pushes to a tag"),
        ({"push": "yes"}, "image.build.push", "must be true or false, not str 'yes'", None),
        ({"tls_verify": 0}, "image.build.tls_verify", "must be true or false, not int 0", None),
        ({"build_args": ["A=1"]}, "image.build.build_args", "must be a mapping", None),
        ({"build_args": {"VERSION": 1.1}}, "image.build.build_args.VERSION", "found float", "quote the value"),
        ({"extra_args": "--layers"}, "image.build.extra_args", "list of strings", None),
        ({"extra_args": ["--layers", 1]}, "image.build.extra_args", "list of strings", None),
        ({"containerfile": "Nope"}, "image.build.containerfile", "does not exist", "relative to the context"),
        ({"isolation": "vm"}, "image.build.isolation", "'vm' is not one of oci, chroot, rootless", None),
        ({"command": ["make"]}, "image.build.command", "does not apply to builder buildah", "builder command"),
        (
            {"builder": "docker", "isolation": "chroot"},
            "image.build.isolation",
            "does not apply to builder docker",
            None,
        ),
        ({"builder": "command"}, "image.build.command", "missing", "{image}"),
        ({"builder": "command", "command": []}, "image.build.command", "missing", None),
        ({"builder": "command", "command": ["x"], "push": False}, "image.build.push", "does not apply", None),
    ],
)
def test_config_errors_name_the_field(
    base: Path, config: dict[str, Any], field: str, message: str, hint: str | None
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(base, **config)

    error = raised.value
    assert error.source == "pipeline.yaml"
    assert error.field == field
    assert message in error.message
    if hint is not None:
        assert error.hint is not None
        assert hint in error.hint


def test_no_containerfile_at_all(base: Path) -> None:
    (base / "app" / "Containerfile").unlink()

    with pytest.raises(ConfigError, match="has no Containerfile or Dockerfile") as raised:
        parse(base)

    assert raised.value.field == "image.build.containerfile"


def test_the_section_must_be_a_mapping(base: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        BuildSpec.from_mapping(["buildah"], source="pipeline.yaml", base_dir=base)  # type: ignore[arg-type]

    assert str(raised.value).startswith("pipeline.yaml: image.build: must be a mapping, not list")
