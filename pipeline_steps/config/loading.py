"""Reading pipeline.yaml: substitute `${VAR}`, parse with the line of every key, validate against the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline_steps.config.model import Config
from pipeline_steps.config.overrides import Overrides
from pipeline_steps.config.problems import Lines
from pipeline_steps.config.validation import validate
from pipeline_steps.errors import ConfigError, RenderError
from pipeline_steps.image.reference import UNPINNED_HINT, ImageReference, names_a_version
from pipeline_steps.manifests.loading import StrictLoader
from pipeline_steps.manifests.substitution import Substituted, substitute_yaml

#: In place of an unset variable when only names are needed (never applied, never in an object's name).
UNSET_MARK = "pipeline-steps-unset"
#: What the read-only verbs need of the config: the names of things.
_NAME_FIELDS = ("app", "namespace", "manifests", "bluegreen", "rolling")


def load_config(
    path: Path, variables: Mapping[str, str], overrides: Overrides | None = None, *, names_only: bool = False
) -> Config:
    """Read, substitute and validate pipeline.yaml. Raises ConfigError naming file, line, field and fix.

    `names_only` (status, rollback, unlock, approve, reject): a variable that feeds no name (an image tag,
    a check's URL) may be unset; one that the app, namespace, manifests or roles depend on is the usual error."""
    try:
        return _load(path, variables, overrides)
    except RenderError as strict:
        if not names_only:
            raise
        try:
            config = _load(path, variables, overrides, unset_value=lambda name: f"{UNSET_MARK}-{name.lower()}")
        except ConfigError:
            raise strict from None
        names = config.model_dump(include=set(_NAME_FIELDS))
        if UNSET_MARK in repr(names):
            raise strict from None
        return config


def _load(
    path: Path,
    variables: Mapping[str, str],
    overrides: Overrides | None,
    *,
    unset_value: Callable[[str], str] | None = None,
) -> Config:
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(
            "config file not found", source=source, hint="pass -c PATH or set PIPELINE_STEPS_CONFIG"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=source) from exc
    data, lines = read_yaml(substitute_yaml(text, variables, source=source, unset_value=unset_value), source=source)
    return _config(data, path=path, variables=variables, overrides=overrides or Overrides(), lines=lines)


def parse_config(data: Any, *, path: Path, variables: Mapping[str, str], overrides: Overrides) -> Config:
    """A config from data already parsed (no lines to name in errors)."""
    return _config(data, path=path, variables=variables, overrides=overrides, lines=None)


def read_yaml(substituted: Substituted, *, source: str) -> tuple[Any, Lines]:
    """One YAML document and the line in the file of each of its keys."""
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(substituted.text)  # refuses a control character at once
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, substituted, source) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return data, Lines.of(node, line_of=lambda mark: substituted.line_at(mark.index))


def _yaml_error(exc: yaml.YAMLError, substituted: Substituted, source: str) -> ConfigError:
    if isinstance(exc, yaml.reader.ReaderError):
        where = f"{source}:{substituted.line_at(exc.position)}"
        problem = str(exc).splitlines()[0]
        return ConfigError(f"not valid YAML: {problem}", source=where, hint="remove it: YAML text is printable")
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{substituted.line_at(mark.index)}" if mark else source
    problem = str(getattr(exc, "problem", None) or exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark and mark:  # where the construct that went wrong began, e.g. an unclosed [
        problem += f" ({context} on line {substituted.line_at(context_mark.index)})"
    return ConfigError(f"not valid YAML: {problem}", source=where, hint=_yaml_hint(problem))


def _yaml_hint(problem: str) -> str:
    if problem.startswith("duplicate key"):
        return "a key may appear once in a mapping: remove one of them"
    if "another document" in problem:
        return "pipeline.yaml is one YAML document: remove the '---' and what follows it"
    return "check the indentation and quoting around this line"


def _config(
    data: Any, *, path: Path, variables: Mapping[str, str], overrides: Overrides, lines: Lines | None
) -> Config:
    config: Config = validate(Config, overrides.applied_to(data), source=str(path), lines=lines)
    image = config.image
    reference = overrides.image or image.reference or variables.get(image.variable) or None
    if reference:
        if overrides.image:
            source, field = None, "--image / PIPELINE_STEPS_IMAGE"
        elif image.reference:
            line = lines.line(("image", "reference")) if lines else None
            source, field = f"{path}:{line}" if line else str(path), "image.reference"
        else:
            source, field = None, f"{image.variable} (environment or --set)"
        _check_image(reference, source=source, field=field)
    if reference != image.reference:
        config = config.model_copy(update={"image": image.model_copy(update={"reference": reference})})
    return config.bound(path, dict(variables))


def _check_image(reference: str, *, source: str | None, field: str) -> None:
    """The image to release: a reference every registry takes, naming one image (a tag or a digest)."""
    ImageReference.parse(reference, source=source, field=field)
    if not names_a_version(reference):
        raise ConfigError(
            f"image {reference!r} has neither tag nor digest: each pod would pull whatever `latest` is when it starts",
            source=source,
            field=field,
            hint=UNPINNED_HINT,
        )
