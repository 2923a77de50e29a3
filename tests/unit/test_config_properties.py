"""The config loader on generated input: whatever pipeline.yaml, environment or flags hold, the only error that
leaves it is the project's own ConfigError (never pydantic's, YAML's, a KeyError or a TypeError), and its
message names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_steps.config import Config, Overrides, load_config, parse_config
from pipeline_steps.errors import ConfigError

EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
APP = Path(__file__).resolve().parent.parent / "e2e" / "apps" / "bluegreen" / "pipeline.yaml"
VALID = yaml.safe_load(APP.read_text().replace("${NAMESPACE}", "web"))

#: The file's own words, so that generated files reach past "unknown key" into every field's validation.
KEYS = sorted(
    {
        *Config.keys(),
        *("reference", "variable", "resolve_digest", "tls_verify", "build", "role_label", "roles"),
        *("public_service", "staged", "prod", "mode", "timeout", "on_timeout", "approvers", "mail", "policy"),
        *("scale_down_delay", "pre_stop_sleep", "accept_lost_requests", "rollout", "switch", "name", "http"),
        *("command", "env", "retries", "interval", "successes", "path", "url", "method", "headers", "body"),
        *("expect_status", "body_regex", "json", "host", "port", "security", "username", "password"),
        *("password_env", "password_file", "ca_file", "from", "to", "best_effort", "builder", "tag"),
    }
)
WORDS = [
    *("auto", "prompt", "wait", "keep", "scale-down", "bluegreen", "rolling", "blue", "green", "web", "30s"),
    *("-1", "1e9", "0", "5m", "1h", "250ms", "yes", "no", "on", "null", "~", "registry.local/web:1", "/"),
    *("http://x/", "{base_url}/x", "[", "(", "${X}", "$${X}", "*", "&a", "!!int 1", "a: b", "- a", "tls", "\t"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=24,
)
#: A working file with some of its sections replaced by anything at all.
mappings = st.builds(lambda extra: {**VALID, **extra}, st.dictionaries(keys, values, max_size=6))
#: Anything at all as the whole document.
documents = st.one_of(values, mappings)

#: Text an editor could leave in a YAML file.
FRAGMENTS = [":", ": ", "-", "- ", "[", "]", "{", "}", ",", "#", "'", '"', "\n", "\n  ", "\t", "---\n", "...", "&", "*"]
FRAGMENTS += ["!", "!!str ", "|", ">", "?", "%", "@", "`", "\\", "${", "}", "$${", "${X}", "${Y:-d}", "\ufeff", "\x00"]
edits = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 3), st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))),
    min_size=1,
    max_size=6,
)
variables = st.dictionaries(st.sampled_from(["X", "Y", "NAMESPACE", "CONFIRM_MODE", "POST_CLEAN", "IMAGE"]), st.text())


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


def check_loads_or_refused(path: Path, text: str, env: dict[str, str], overrides: Overrides | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path, env, overrides)
    except ConfigError as error:
        # From the file: it names the file; from a flag or the environment: it names that instead.
        assert str(path) in str(error) or (error.source is None and error.field), error
        return
    assert isinstance(config, Config)


def edited(text: str, changes: list[tuple[float, int, str]]) -> str:
    """`text` with each change made: at a fraction of its length, delete some characters and insert others."""
    for where, deleted, inserted in changes:
        at = int(where * len(text))
        text = text[:at] + inserted + text[at + deleted :]
    return text


@EXAMPLES
@given(document=documents, env=variables)
def test_any_yaml_document_loads_or_is_refused_with_a_config_error(
    directory: Path, document: Any, env: dict[str, str]
) -> None:
    check_loads_or_refused(directory / "pipeline.yaml", yaml.safe_dump(document, allow_unicode=True), env)


@EXAMPLES
@given(changes=edits, env=variables)
def test_a_working_file_with_any_edit_loads_or_is_refused_with_a_config_error(
    directory: Path, changes: list[tuple[float, int, str]], env: dict[str, str]
) -> None:
    check_loads_or_refused(directory / "pipeline.yaml", edited(APP.read_text(), changes), {"NAMESPACE": "web", **env})


@EXAMPLES
@given(pieces=st.lists(st.sampled_from([*FRAGMENTS, "a", "b", "app", "manifests", " ", "1"]), max_size=30))
def test_any_text_loads_or_is_refused_with_a_config_error(directory: Path, pieces: list[str]) -> None:
    check_loads_or_refused(directory / "pipeline.yaml", "".join(pieces), {})


@EXAMPLES
@given(
    namespace=st.none() | st.text(max_size=70),
    image=st.none() | st.text(max_size=40) | st.sampled_from(["registry.local/web", "web:1", "web@sha256:12"]),
    confirm_mode=st.none() | st.text(max_size=10) | st.sampled_from(["auto", "wait"]),
    post_clean=st.none() | st.text(max_size=12) | st.sampled_from(["keep", "scale-down"]),
)
def test_any_flags_load_or_are_refused_with_a_config_error(
    directory: Path, namespace: str | None, image: str | None, confirm_mode: str | None, post_clean: str | None
) -> None:
    overrides = Overrides(namespace=namespace, image=image, confirm_mode=confirm_mode, post_clean=post_clean)
    check_loads_or_refused(directory / "pipeline.yaml", APP.read_text(), {"NAMESPACE": "web"}, overrides)


@EXAMPLES
@given(document=documents)
def test_data_parsed_elsewhere_loads_or_is_refused_with_a_config_error(directory: Path, document: Any) -> None:
    try:
        config = parse_config(document, path=directory / "pipeline.yaml", variables={}, overrides=Overrides())
    except ConfigError:
        return
    assert isinstance(config, Config)


def test_the_generators_reach_both_outcomes(directory: Path) -> None:
    """The properties above hold for files that load, not only for files that are refused."""
    check_loads_or_refused(directory / "pipeline.yaml", yaml.safe_dump(VALID), {})
    assert load_config(directory / "pipeline.yaml", {}).app == "web"
    with pytest.raises(ConfigError):
        load_config(directory / "pipeline.yaml", {}, Overrides(confirm_mode="maybe"))
