"""Flags and their PIPELINE_STEPS_* environment equivalents, which win over pipeline.yaml."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline_steps.config.fields import NAMESPACE_HINT, namespace_problem
from pipeline_steps.config.model import CONFIRM_MODES, POST_CLEAN_POLICIES
from pipeline_steps.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Flags (and their PIPELINE_STEPS_* environment equivalents) that win over the file."""

    namespace: str | None = None
    image: str | None = None
    confirm_mode: str | None = None
    post_clean: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Overrides:
        return cls(
            namespace=env.get("PIPELINE_STEPS_NAMESPACE") or None,
            image=env.get("PIPELINE_STEPS_IMAGE") or None,
            confirm_mode=env.get("PIPELINE_STEPS_CONFIRM_MODE") or None,
            post_clean=env.get("PIPELINE_STEPS_POST_CLEAN") or None,
        )

    def over(self, lower: Overrides) -> Overrides:
        """These overrides, falling back to `lower` where unset (flags over environment)."""
        return Overrides(
            **{
                f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(lower, f.name)
                for f in dataclasses.fields(self)
            }
        )

    def applied_to(self, data: Any) -> Any:
        """The file's data with the overridden values in place of its own, each checked first and named by its
        flag when wrong. The file's own value of an overridden key is not used, so it is not checked either."""
        if self.namespace:
            problem = namespace_problem(self.namespace)
            if problem:
                raise ConfigError(problem, field="--namespace / PIPELINE_STEPS_NAMESPACE", hint=NAMESPACE_HINT)
            data = _replaced(data, ("namespace",), self.namespace)
        if self.confirm_mode:
            _check(self.confirm_mode, CONFIRM_MODES, "--confirm-mode / PIPELINE_STEPS_CONFIRM_MODE")
            data = _replaced(data, ("confirm", "mode"), self.confirm_mode)
        if self.post_clean:
            _check(self.post_clean, POST_CLEAN_POLICIES, "--post-clean / PIPELINE_STEPS_POST_CLEAN")
            data = _replaced(data, ("post_clean", "policy"), self.post_clean)
        return data


def _check(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise ConfigError(f"{value!r} is not one of {', '.join(choices)}", field=field)


def _replaced(data: Any, keys: tuple[str, ...], value: str) -> Any:
    """A copy of `data` with `value` at `keys`; data that is not a mapping there is left for the model to refuse."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return data
    key, rest = keys[0], keys[1:]
    return {**data, key: _replaced(data.get(key), rest, value) if rest else value}
