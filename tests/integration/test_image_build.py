"""Building and pushing with real buildah to a real registry, then resolving the digest the deploy will use."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import ImageError
from pipeline_steps.image import BuildSpec, ImageReference, plan_build, resolve_digest, run_build
from tests.support.registry import LocalRegistry, isolated_container_storage, require_binaries, running_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    require_binaries("buildah", "skopeo")
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(autouse=True)
def container_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in isolated_container_storage(tmp_path / "containers").items():
        monkeypatch.setenv(name, value)


def write_context(root: Path, containerfile: str, files: dict[str, str]) -> Path:
    context = root / "app"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Containerfile").write_text(containerfile)
    for name, text in files.items():
        (context / name).write_text(text)
    return context


def buildah_spec(tmp_path: Path, tag: str, **overrides: Any) -> BuildSpec:
    config: dict[str, Any] = {
        "builder": "buildah",
        "context": "app",
        "tag": tag,
        "tls_verify": False,
        "storage_driver": "vfs",
        "isolation": "chroot",
        **overrides,
    }
    return BuildSpec.from_mapping(config, source="pipeline.yaml", base_dir=tmp_path, environ={})


def skopeo_inspect(image: str) -> dict[str, Any]:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{image}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    inspected: dict[str, Any] = json.loads(result.stdout)
    return inspected


def test_buildah_build_and_push_resolves_to_the_digest_skopeo_sees(tmp_path: Path, registry: LocalRegistry) -> None:
    write_context(
        tmp_path,
        "FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\nCOPY hello.txt /hello.txt\n",
        {"hello.txt": "hello\n"},
    )
    spec = buildah_spec(tmp_path, registry.ref("demo/app", "v1"), build_args={"GREETING": "from-build-args"})
    lines: list[str] = []

    run_build(spec, on_output=lines.append)
    digest = resolve_digest(spec.tag, tls_verify=spec.tls_verify)

    inspected = skopeo_inspect(str(spec.tag))
    assert digest == inspected["Digest"]
    assert inspected["Labels"]["greeting"] == "from-build-args"
    assert any("COPY hello.txt" in line for line in lines), lines
    pinned = spec.tag.with_digest(digest)
    assert str(pinned) == f"{registry.host}/demo/app@{digest}"
    assert resolve_digest(pinned) == digest


def test_a_moved_tag_resolves_to_its_new_digest(tmp_path: Path, registry: LocalRegistry) -> None:
    digests = []
    for content in ("first\n", "second\n"):
        write_context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n", {"hello.txt": content})
        spec = buildah_spec(tmp_path, registry.ref("demo/moving", "release"))
        run_build(spec)
        digests.append(resolve_digest(spec.tag))

    assert digests[0] != digests[1]
    assert digests[1] == skopeo_inspect(registry.ref("demo/moving", "release"))["Digest"]


def test_a_failing_build_names_the_command_and_quotes_its_output(tmp_path: Path, registry: LocalRegistry) -> None:
    write_context(tmp_path, "FROM scratch\nCOPY not-in-context.txt /x\n", {})
    spec = buildah_spec(tmp_path, registry.ref("demo/broken", "v1"))

    with pytest.raises(ImageError) as raised:
        run_build(spec)

    message = str(raised.value)
    assert "buildah --storage-driver vfs bud --isolation chroot" in message
    assert "exited with" in message
    assert "not-in-context.txt" in message  # from buildah's own output
    # The push never ran, so nothing is there to deploy.
    with pytest.raises(ImageError, match="tag v1 not found in repository demo/broken"):
        resolve_digest(spec.tag)


def test_a_missing_builder_binary_says_how_to_install_it(
    tmp_path: Path, registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_context(tmp_path, "FROM scratch\n", {})
    spec = buildah_spec(tmp_path, registry.ref("demo/app", "v1"))
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(ImageError, match="buildah not found") as raised:
        run_build(spec)

    assert "apt-get install buildah" in str(raised.value)


def test_the_command_builder_runs_the_users_command_with_the_image(tmp_path: Path, registry: LocalRegistry) -> None:
    context = write_context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n", {"hello.txt": "by script\n"})
    script = (
        'buildah --storage-driver vfs bud --isolation chroot -t "$1" . '
        '&& buildah --storage-driver vfs push --tls-verify=false "$1" "docker://$1" '
        '&& echo "pushed $1 from $(pwd)"'
    )
    spec = BuildSpec.from_mapping(
        {
            "builder": "command",
            "context": "app",
            "tag": registry.ref("demo/scripted", "v1"),
            "tls_verify": False,
            "command": ["sh", "-c", script, "build-image", "{image}"],
        },
        source="pipeline.yaml",
        base_dir=tmp_path,
    )
    lines: list[str] = []

    assert plan_build(spec) == [["sh", "-c", script, "build-image", registry.ref("demo/scripted", "v1")]]
    run_build(spec, on_output=lines.append)

    assert f"pushed {registry.ref('demo/scripted', 'v1')} from {context}" in lines
    assert resolve_digest(spec.tag) == skopeo_inspect(registry.ref("demo/scripted", "v1"))["Digest"]


def test_a_failing_command_reports_exit_code_and_output_tail(tmp_path: Path) -> None:
    spec = BuildSpec.from_mapping(
        {
            "builder": "command",
            "tag": "127.0.0.1:1/demo/app:v1",
            "command": ["sh", "-c", "echo compiling; echo 'error: no such target' >&2; exit 3"],
        },
        source="pipeline.yaml",
        base_dir=tmp_path,
    )

    with pytest.raises(ImageError) as raised:
        run_build(spec)

    message = str(raised.value)
    assert "exited with 3" in message
    assert "sh -c" in message
    assert "compiling" in message
    assert "error: no such target" in message


def test_a_command_that_does_not_exist_is_named(tmp_path: Path) -> None:
    spec = BuildSpec.from_mapping(
        {"builder": "command", "tag": "127.0.0.1:1/demo/app:v1", "command": ["no-such-image-builder", "{image}"]},
        source="pipeline.yaml",
        base_dir=tmp_path,
    )

    with pytest.raises(ImageError, match="no-such-image-builder not found") as raised:
        run_build(spec)

    assert "image.build.command" in str(raised.value)


def test_the_reference_the_build_pushes_is_the_one_resolved(tmp_path: Path, registry: LocalRegistry) -> None:
    """A short tag is normalised once, so build, push and resolve all name the same image."""
    write_context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n", {"hello.txt": "x\n"})
    spec = buildah_spec(tmp_path, f"{registry.host}/short")

    run_build(spec)

    assert spec.tag == ImageReference(registry=registry.host, repository="short", tag="latest")
    assert resolve_digest(spec.tag) == skopeo_inspect(f"{registry.host}/short:latest")["Digest"]
