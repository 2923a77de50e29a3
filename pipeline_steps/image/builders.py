"""Building and pushing the release image with buildah, podman, docker or a command of the user's own."""

from __future__ import annotations

import collections
import dataclasses
import difflib
import enum
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipeline_steps.errors import ConfigError, ImageError
from pipeline_steps.image.reference import ImageReference

SECTION = "image.build"
#: Lines of a failed command's output that its ImageError quotes.
TAIL_LINES = 20
CONTAINERFILE_NAMES = ("Containerfile", "Dockerfile")
ISOLATIONS = ("oci", "chroot", "rootless")
IMAGE_PLACEHOLDER = "{image}"
CONTEXT_PLACEHOLDER = "{context}"
CONTAINERFILE_PLACEHOLDER = "{containerfile}"


class Builder(enum.StrEnum):
    BUILDAH = "buildah"
    DOCKER = "docker"
    PODMAN = "podman"
    COMMAND = "command"  #: `command` builds and pushes; the other keys but tag and context do not apply


_INSTALL_HINTS = {
    "buildah": "install it (Debian/Ubuntu: apt-get install buildah; Fedora/RHEL: dnf install buildah)",
    "podman": "install it (Debian/Ubuntu: apt-get install podman; Fedora/RHEL: dnf install podman)",
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) or set image.build.builder: buildah",
}
_KEYS = (
    "builder",
    "context",
    "containerfile",
    "tag",
    "build_args",
    "push",
    "tls_verify",
    "extra_args",
    "command",
    "storage_driver",
    "isolation",
)
_ONLY_FOR = {
    "command": (Builder.COMMAND,),
    "storage_driver": (Builder.BUILDAH, Builder.PODMAN),
    "isolation": (Builder.BUILDAH, Builder.PODMAN),
    "containerfile": (Builder.BUILDAH, Builder.PODMAN, Builder.DOCKER),
    "build_args": (Builder.BUILDAH, Builder.PODMAN, Builder.DOCKER),
    "extra_args": (Builder.BUILDAH, Builder.PODMAN, Builder.DOCKER),
    "push": (Builder.BUILDAH, Builder.PODMAN, Builder.DOCKER),
}


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """How to build and push the image: the `image.build` section of pipeline.yaml, paths made absolute."""

    builder: Builder
    tag: ImageReference  #: where the image is pushed; the digest is resolved from it afterwards
    context: Path
    containerfile: Path | None = None  #: None only for the command builder
    build_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    push: bool = True
    #: buildah and podman pass it to bud/push; docker leaves it to the daemon's insecure-registries.
    tls_verify: bool = True
    extra_args: tuple[str, ...] = ()  #: appended to the build command, before the context
    #: The command builder's argv; {image}, {context} and {containerfile} are replaced. It runs in `context`.
    command: tuple[str, ...] = ()
    storage_driver: str | None = None
    isolation: str | None = None

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
    ) -> BuildSpec:
        """Parse the `image.build` section; relative paths are relative to `base_dir`.

        buildah's storage driver and isolation default to $BUILDAH_STORAGE_DRIVER and $BUILDAH_ISOLATION
        (read from `environ`, default os.environ), so a CI runner can set them once for every project.
        """
        env = os.environ if environ is None else environ

        def error(key: str, message: str, hint: str | None = None) -> ConfigError:
            return ConfigError(message, source=source, field=f"{SECTION}.{key}" if key else SECTION, hint=hint)

        if not isinstance(data, Mapping):
            raise error("", f"must be a mapping, not {type(data).__name__}", hint="see the image.build example")
        for key in data:
            if key not in _KEYS:
                raise error(str(key), "unknown key", hint=_unknown_key_hint(str(key)))

        builder_name = _optional(data, "builder", str, error) or Builder.BUILDAH.value
        try:
            builder = Builder(builder_name)
        except ValueError:
            choices = ", ".join(b.value for b in Builder)
            raise error("builder", f"unknown builder {builder_name!r}", hint=f"one of {choices}") from None
        for key, builders in _ONLY_FOR.items():
            if key in data and builder not in builders:
                raise error(key, f"does not apply to builder {builder.value}", hint=_only_for_hint(key, builders))

        tag_text = _optional(data, "tag", str, error)
        if not tag_text:
            raise error("tag", "missing", hint="the reference to push to, e.g. registry.example.com/team/app:v1")
        tag = ImageReference.parse(tag_text, source=source, field=f"{SECTION}.tag")
        if tag.digest:
            raise error("tag", f"{tag_text!r} has a digest", hint="a build pushes to a tag; the digest is resolved")

        context_text = _optional(data, "context", str, error)
        if context_text is None and builder is not Builder.COMMAND:
            raise error("context", "missing", hint="the directory to build from, relative to the config file")
        context = (base_dir / (context_text or ".")).resolve()
        if not context.is_dir():
            raise error("context", f"{context} is not a directory", hint="give a directory relative to the config")

        containerfile = None
        if builder is not Builder.COMMAND:
            containerfile = _containerfile(_optional(data, "containerfile", str, error), context, error)

        build_args = _optional(data, "build_args", dict, error) or {}
        for name, value in build_args.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise error(
                    f"build_args.{name}",
                    f"must map names to strings, found {type(value).__name__}",
                    hint='quote the value in YAML, e.g. VERSION: "1.10"',
                )

        command = tuple(_optional_strings(data, "command", error))
        if builder is Builder.COMMAND and not command:
            raise error("command", "missing", hint='the argv to run, e.g. ["make", "image", "IMAGE={image}"]')

        storage_driver = _optional(data, "storage_driver", str, error)
        isolation = _optional(data, "isolation", str, error)
        if builder is Builder.BUILDAH:
            storage_driver = storage_driver or env.get("BUILDAH_STORAGE_DRIVER") or None
            if isolation is None and env.get("BUILDAH_ISOLATION"):
                isolation = env["BUILDAH_ISOLATION"]
                if isolation not in ISOLATIONS:
                    raise ConfigError(
                        f"BUILDAH_ISOLATION={isolation!r} is not one of {', '.join(ISOLATIONS)}",
                        source="environment",
                        field="BUILDAH_ISOLATION",
                        hint=f"unset it or set {SECTION}.isolation",
                    )
        if isolation is not None and isolation not in ISOLATIONS:
            raise error("isolation", f"{isolation!r} is not one of {', '.join(ISOLATIONS)}")

        return cls(
            builder=builder,
            tag=tag,
            context=context,
            containerfile=containerfile,
            build_args=dict(build_args),
            push=_optional(data, "push", bool, error, default=True),
            tls_verify=_optional(data, "tls_verify", bool, error, default=True),
            extra_args=tuple(_optional_strings(data, "extra_args", error)),
            command=command,
            storage_driver=storage_driver,
            isolation=isolation,
        )


def plan_build(spec: BuildSpec) -> list[list[str]]:
    """The commands that build (and push) the image, in order; what --dry-run shows and run_build runs."""
    image = str(spec.tag)
    if spec.builder is Builder.COMMAND:
        replacements = {
            IMAGE_PLACEHOLDER: image,
            CONTEXT_PLACEHOLDER: str(spec.context),
            CONTAINERFILE_PLACEHOLDER: str(spec.containerfile or ""),
        }
        return [[_substitute(arg, replacements) for arg in spec.command]]

    build_args = [f"--build-arg={name}={value}" for name, value in spec.build_args.items()]
    build_tail = ["-t", image, "-f", str(spec.containerfile), *build_args, *spec.extra_args, str(spec.context)]
    if spec.builder is Builder.DOCKER:
        commands = [["docker", "build", *build_tail]]
        if spec.push:
            commands.append(["docker", "push", image])
        return commands

    program = spec.builder.value
    global_flags = ["--storage-driver", spec.storage_driver] if spec.storage_driver else []
    build_verb = "bud" if spec.builder is Builder.BUILDAH else "build"
    build = [program, *global_flags, build_verb]
    if spec.isolation:
        build += ["--isolation", spec.isolation]
    if not spec.tls_verify:
        # Also covers a base image pulled from the same insecure registry.
        build.append("--tls-verify=false")
    commands = [build + build_tail]
    if spec.push:
        tls = "true" if spec.tls_verify else "false"
        commands.append([program, *global_flags, "push", f"--tls-verify={tls}", image, f"docker://{image}"])
    return commands


def run_build(spec: BuildSpec, *, on_output: Callable[[str], None] | None = None) -> None:
    """Run plan_build's commands in order, passing each output line to `on_output`; stop at the first failure."""
    for command in plan_build(spec):
        _run(command, spec, on_output)


def _run(command: list[str], spec: BuildSpec, on_output: Callable[[str], None] | None) -> None:
    shown = shlex.join(command)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            command,
            cwd=spec.context,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise ImageError(f"cannot run `{shown}`: {command[0]} not found", hint=_missing_binary_hint(spec)) from exc
    except PermissionError as exc:
        raise ImageError(
            f"cannot run `{shown}`: {command[0]} is not executable", hint=_missing_binary_hint(spec)
        ) from exc

    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.rstrip("\r\n")
            tail.append(line)
            if on_output is not None:
                on_output(line)
        code = process.wait()
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
        output = "\n".join(f"  {line}" for line in tail) if tail else "  (no output)"
        raise ImageError(
            f"image build failed: `{shown}` {how}; last output:\n{output}", hint=_failure_hint(spec, command)
        )


def _missing_binary_hint(spec: BuildSpec) -> str:
    if spec.builder is Builder.COMMAND:
        return f"{SECTION}.command[0] must be on PATH or a path relative to the context {spec.context}"
    return _INSTALL_HINTS[spec.builder.value]


def _failure_hint(spec: BuildSpec, command: list[str]) -> str:
    if spec.builder is Builder.COMMAND:
        return f"fix the command in {SECTION}.command, or run it by hand in {spec.context} to see more"
    if "push" in command:
        return (
            f"check that {spec.tag.registry} is reachable and accepts pushes to {spec.tag.repository}: "
            f"log in with `{command[0]} login {spec.tag.registry}`, or set {SECTION}.tls_verify: false for plain HTTP"
        )
    return f"the output shows which instruction of {spec.containerfile} failed"


def _substitute(arg: str, replacements: Mapping[str, str]) -> str:
    # Plain replacement, not str.format: commands often hold braces of their own (shell ${VAR}, JSON).
    for placeholder, value in replacements.items():
        arg = arg.replace(placeholder, value)
    return arg


def _containerfile(text: str | None, context: Path, error: Callable[..., ConfigError]) -> Path:
    if text is not None:
        path = (context / text).resolve()
        if not path.is_file():
            raise error("containerfile", f"{path} does not exist", hint="it is relative to the context directory")
        return path
    for name in CONTAINERFILE_NAMES:
        if (context / name).is_file():
            return context / name
    raise error(
        "containerfile",
        f"missing, and {context} has no {' or '.join(CONTAINERFILE_NAMES)}",
        hint="add one to the context or name it here, relative to the context",
    )


def _optional(
    data: Mapping[str, Any],
    key: str,
    kind: type,
    error: Callable[..., ConfigError],
    default: Any = None,
) -> Any:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    # bool is an int in Python, and YAML turns `yes` into True: both must be checked exactly.
    if type(value) is not kind and not (kind is dict and isinstance(value, Mapping)):
        names = {str: "a string", bool: "true or false", dict: "a mapping"}
        raise error(key, f"must be {names.get(kind, kind.__name__)}, not {type(value).__name__} {value!r}")
    return value


def _optional_strings(data: Mapping[str, Any], key: str, error: Callable[..., ConfigError]) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(key, "must be a list of strings", hint='write every item in quotes, e.g. ["--pull=never"]')
    return value


def _unknown_key_hint(key: str) -> str:
    aliases = {"dockerfile": "containerfile", "file": "containerfile", "image": "tag", "args": "build_args"}
    close = [aliases[key]] if key in aliases else difflib.get_close_matches(key, _KEYS, n=1)
    known = ", ".join(_KEYS)
    return f"did you mean {close[0]!r}? known keys: {known}" if close else f"known keys: {known}"


def _only_for_hint(key: str, builders: tuple[Builder, ...]) -> str:
    names = " or ".join(b.value for b in builders)
    return f"{key} is only read with builder {names}; remove it or change the builder"
