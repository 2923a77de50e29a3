"""pipeline.yaml -> Config: defaults, validation errors naming file, field and fix, `${VAR}`, and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.config import Attempts, Config, HttpCheckSpec, Overrides, load_config
from pipeline_steps.errors import ConfigError, RenderError

MINIMAL = "app: web\nmanifests: [k8s/*.yaml]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(
    tmp_path: Path, text: str, variables: dict[str, str] | None = None, overrides: Overrides | None = None
) -> Config:
    return load_config(write(tmp_path, text), variables or {}, overrides)


def error(tmp_path: Path, text: str, variables: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, variables)
    return caught.value


# -- defaults and a full file -------------------------------------------------------------------------


def test_minimal_config_takes_the_documented_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    assert config.path == tmp_path / "pipeline.yaml"
    assert config.base_dir == tmp_path
    assert (config.app, config.namespace, config.strategy) == ("web", "default", "bluegreen")
    assert config.manifests == ("k8s/*.yaml",)
    assert config.image.reference is None
    assert (config.image.variable, config.image.resolve_digest, config.image.tls_verify) == ("IMAGE", True, True)
    assert config.bluegreen.roles == ("blue", "green")
    assert config.bluegreen.role_label == "role"
    assert config.public_service == "web"
    assert (config.confirm.mode, config.confirm.timeout_s, config.confirm.on_timeout) == ("prompt", 1800.0, "reject")
    assert (config.post_clean.policy, config.post_clean.scale_down_delay_s) == ("keep", 30.0)
    assert (config.timeouts.rollout_s, config.timeouts.switch_s) == (600.0, 120.0)
    assert (config.verify_staged, config.verify_prod) == ((), ())
    assert config.allow_missing_readiness is False


def test_every_section_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
app: shop
namespace: prod
strategy: rolling
manifests: k8s/app.yaml
image: {reference: "reg.example/shop:1", variable: SHOP_IMAGE, resolve_digest: false, tls_verify: false,
        build: {builder: docker, context: .}}
bluegreen: {role_label: colour, roles: [left, right], public_service: shop-bg}
rolling: {public_service: shop-public}
verify: {staged: [{name: home, http: {path: /}}], prod: []}
confirm: {mode: wait, timeout: 5m, on_timeout: approve, approvers: [alice, bob]}
post_clean: {policy: scale-down, scale_down_delay: 90s}
timeouts: {rollout: 2m, switch: 1500ms}
allow_missing_readiness: true
""",
    )
    assert (config.namespace, config.strategy, config.manifests) == ("prod", "rolling", ("k8s/app.yaml",))
    assert config.image.reference == "reg.example/shop:1"
    assert config.image.variable == "SHOP_IMAGE"
    assert (config.image.resolve_digest, config.image.tls_verify) == (False, False)
    assert config.image.build == {"builder": "docker", "context": "."}
    assert config.bluegreen.roles == ("left", "right")
    assert config.bluegreen.role_label == "colour"
    assert config.public_service == "shop-public"  # the rolling strategy's Service
    assert config.verify_staged == (HttpCheckSpec(name="home", attempts=Attempts(), path="/"),)
    assert (config.confirm.mode, config.confirm.timeout_s, config.confirm.on_timeout) == ("wait", 300.0, "approve")
    assert config.confirm.approvers == ("alice", "bob")
    assert (config.post_clean.policy, config.post_clean.scale_down_delay_s) == ("scale-down", 90.0)
    assert (config.timeouts.rollout_s, config.timeouts.switch_s) == (120.0, 1.5)
    assert config.allow_missing_readiness is True


# -- file-level errors --------------------------------------------------------------------------------


def test_missing_file_names_it_and_how_to_pass_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == f"{path}: config file not found (pass -c PATH or set PIPELINE_STEPS_CONFIG)"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_directory_is_not_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file: Is a directory") as caught:
        load_config(tmp_path, {})
    assert caught.value.source == str(tmp_path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    problem = error(tmp_path, "app: web\nmanifests: [a.yaml\nnamespace: x\n")
    assert problem.source is not None
    assert problem.source.startswith(f"{tmp_path / 'pipeline.yaml'}:")
    assert "not valid YAML" in str(problem)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problem = error(tmp_path, "- app: web\n")
    assert str(problem) == f"{tmp_path / 'pipeline.yaml'}: must be a mapping, not list"


def test_empty_file_asks_for_app_and_manifests_at_once(tmp_path: Path) -> None:
    problem = error(tmp_path, "")
    path = tmp_path / "pipeline.yaml"
    assert problem.field == "app"
    assert str(problem) == (
        f"{path}: app: is required (add `app:` to the top level)\n"
        f"{path}: manifests: is required (list the manifest files or globs, e.g. [k8s/*.yaml])"
    )


# -- field errors -------------------------------------------------------------------------------------


def test_manifests_are_required(tmp_path: Path) -> None:
    problem = error(tmp_path, "app: web\n")
    assert problem.field == "manifests"
    assert "list the manifest files or globs" in str(problem)


@pytest.mark.parametrize("app", ["Web", "web_1", "-web", "a" * 51])
def test_app_must_be_a_dns_label(tmp_path: Path, app: str) -> None:
    problem = error(tmp_path, f"app: {app}\nmanifests: [a.yaml]\n")
    assert problem.field == "app"
    assert f"{app!r} is not a DNS label" in str(problem)
    assert "lower-case letters, digits and '-', at most 50" in str(problem)


def test_unknown_top_level_key_names_the_known_ones(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "namespce: prod\n")
    assert problem.field == "namespce"
    assert "is not a known setting" in str(problem)
    assert "namespace" in (problem.hint or "")
    assert "check the spelling" in (problem.hint or "")


def test_unknown_nested_key_names_its_dotted_path(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "confirm: {mode: auto, timout: 5m}\n")
    assert problem.field == "confirm.timout"
    assert problem.source == f"{tmp_path / 'pipeline.yaml'}:3"
    assert "known here: approvers, mail, mode, on_timeout, timeout" in (problem.hint or "")


def test_unknown_strategy_lists_the_choices(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "strategy: canary\n")
    assert problem.field == "strategy"
    assert "is 'canary'; choose one of: bluegreen, rolling" in str(problem)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("image: {resolve_digest: 'yes'}\n", "image.resolve_digest", "must be bool, not str 'yes'"),
        ("image: {build: docker}\n", "image.build", "must be a mapping (builder, context, containerfile...)"),
        ("image: [a]\n", "image", "must be a mapping, not list"),
        ("confirm: {mail: me@example.com}\n", "confirm.mail", "must be a mapping (host, port, from, to...)"),
        ("confirm: {approvers: {alice: 1}}\n", "confirm.approvers", "must be a string or a list of strings"),
        ("timeouts: {rollout: soon}\n", "timeouts.rollout", "'soon' is not a duration"),
        ("timeouts: {switch: -1}\n", "timeouts.switch", "must not be negative, got -1"),
        ("allow_missing_readiness: 1\n", "allow_missing_readiness", "must be bool, not int 1"),
        ("post_clean: {policy: delete}\n", "post_clean.policy", "choose one of: keep, hot-backup, scale-down"),
    ],
)
def test_wrong_types_name_the_field(tmp_path: Path, extra: str, field: str, message: str) -> None:
    problem = error(tmp_path, MINIMAL + extra)
    assert problem.field == field
    assert message in str(problem)
    assert str(problem).startswith(f"{tmp_path / 'pipeline.yaml'}:3: {field}: ")


@pytest.mark.parametrize("value", ["no", "off", "true"])
def test_a_yaml_boolean_is_not_taken_as_a_name(tmp_path: Path, value: str) -> None:
    # Unquoted yes/no/on/off/true/false are booleans in YAML; "False" must not become the namespace.
    problem = error(tmp_path, MINIMAL + f"namespace: {value}\n")
    assert problem.field == "namespace"
    assert "quote" in str(problem)


def test_a_yaml_boolean_in_a_list_is_not_taken_as_a_name(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "bluegreen: {roles: [on, off]}\n")
    assert problem.field == "bluegreen.roles"
    assert "must be a list of strings, not [True, False]" in str(problem)
    assert "quote" in (problem.hint or "")


def test_a_quoted_yaml_boolean_word_is_a_name(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL + 'namespace: "no"\n').namespace == "no"


@pytest.mark.parametrize("roles", ["[blue]", "[blue, blue]", "[a, b, c]", "blue"])
def test_roles_must_be_two_different_values(tmp_path: Path, roles: str) -> None:
    problem = error(tmp_path, MINIMAL + f"bluegreen: {{roles: {roles}}}\n")
    assert problem.field == "bluegreen.roles"
    assert "must be two different values" in str(problem)
    assert "e.g. [blue, green]" in str(problem)


def test_numbers_are_accepted_as_strings(tmp_path: Path) -> None:
    config = load(tmp_path, "app: web\nmanifests: [a.yaml]\nnamespace: 2024\n")
    assert config.namespace == "2024"


# -- ${VAR} substitution ------------------------------------------------------------------------------


def test_variables_are_substituted_before_parsing(tmp_path: Path) -> None:
    text = "app: web\nnamespace: ${NS}\nmanifests: [k8s/*.yaml]\nimage: {reference: '${REG:-reg.local}/web:1'}\n"
    config = load(tmp_path, text, {"NS": "staging"})
    assert config.namespace == "staging"
    assert config.image.reference == "reg.local/web:1"
    assert config.variables == {"NS": "staging"}


def test_unset_variable_names_file_line_and_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as caught:
        load(tmp_path, "app: web\nmanifests: [a.yaml]\nnamespace: ${TARGET_NS}\n")
    problem = caught.value
    assert problem.source == f"{tmp_path / 'pipeline.yaml'}:3"
    assert "${TARGET_NS} is not set" in str(problem)
    assert "--set TARGET_NS=..." in str(problem)


# -- overrides: flags beat environment beat file ------------------------------------------------------


def test_overrides_from_env_ignore_empty_values() -> None:
    env = {
        "PIPELINE_STEPS_NAMESPACE": "ns-env",
        "PIPELINE_STEPS_IMAGE": "",
        "PIPELINE_STEPS_CONFIRM_MODE": "auto",
        "PIPELINE_STEPS_POST_CLEAN": "keep",
        "NAMESPACE": "ignored",
    }
    assert Overrides.from_env(env) == Overrides(namespace="ns-env", image=None, confirm_mode="auto", post_clean="keep")
    assert Overrides.from_env({}) == Overrides()


def test_flags_win_over_environment_field_by_field() -> None:
    flags = Overrides(namespace="ns-flag", confirm_mode="wait")
    env = Overrides(namespace="ns-env", image="img-env", confirm_mode="auto")
    assert flags.over(env) == Overrides(namespace="ns-flag", image="img-env", confirm_mode="wait", post_clean=None)


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    text = MINIMAL + "namespace: ns-file\nconfirm: {mode: prompt}\npost_clean: {policy: keep}\n"
    overrides = Overrides(namespace="ns-flag", confirm_mode="auto", post_clean="hot-backup")
    config = load(tmp_path, text, overrides=overrides)
    assert (config.namespace, config.confirm.mode, config.post_clean.policy) == ("ns-flag", "auto", "hot-backup")


def test_file_is_used_without_overrides(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL + "namespace: ns-file\n", overrides=Overrides())
    assert config.namespace == "ns-file"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (Overrides(confirm_mode="maybe"), "--confirm-mode / PIPELINE_STEPS_CONFIRM_MODE"),
        (Overrides(post_clean="shred"), "--post-clean / PIPELINE_STEPS_POST_CLEAN"),
    ],
)
def test_bad_override_names_the_flag_and_the_choices(tmp_path: Path, overrides: Overrides, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, MINIMAL, overrides=overrides)
    assert caught.value.field == field
    assert "is not one of" in str(caught.value)


def test_image_flag_beats_file_beats_image_variable(tmp_path: Path) -> None:
    with_file = MINIMAL + "image: {reference: file/web:1}\n"
    variables = {"IMAGE": "env/web:1"}
    assert load(tmp_path, with_file, variables, Overrides(image="flag/web:1")).image.reference == "flag/web:1"
    assert load(tmp_path, with_file, variables).image.reference == "file/web:1"
    assert load(tmp_path, MINIMAL, variables).image.reference == "env/web:1"
    assert load(tmp_path, MINIMAL, {"IMAGE": ""}).image.reference is None


def test_image_fallback_follows_the_configured_variable(tmp_path: Path) -> None:
    text = MINIMAL + "image: {variable: WEB_IMAGE}\n"
    assert load(tmp_path, text, {"IMAGE": "wrong/web:1", "WEB_IMAGE": "right/web:1"}).image.reference == "right/web:1"
    assert load(tmp_path, text, {"IMAGE": "wrong/web:1"}).image.reference is None


def test_public_service_follows_the_strategy(tmp_path: Path) -> None:
    sections = "bluegreen: {public_service: bg}\nrolling: {public_service: roll}\n"
    assert load(tmp_path, MINIMAL + sections).public_service == "bg"
    assert load(tmp_path, MINIMAL + sections + "strategy: rolling\n").public_service == "roll"


def test_a_namespace_that_is_no_dns_label_is_refused_from_file_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("app: web\nnamespace: Shop_Prod\nmanifests: [a.yaml]\n")
    with pytest.raises(ConfigError) as from_file:
        load_config(path, {})
    assert "namespace" in str(from_file.value) and "'Shop_Prod' is not a valid namespace name" in str(from_file.value)
    path.write_text("app: web\nnamespace: shop\nmanifests: [a.yaml]\n")
    with pytest.raises(ConfigError) as from_flag:
        load_config(path, {}, Overrides(namespace="-bad"))
    assert "--namespace" in str(from_flag.value)


# -- YAML the loader refuses, and the image it releases --------------------------------------------------


def test_a_key_given_twice_is_refused_naming_its_second_line(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "app: other\n")
    assert str(problem).startswith(f"{tmp_path / 'pipeline.yaml'}:3: not valid YAML: duplicate key 'app'")
    assert problem.hint == "a key may appear once in a mapping: remove one of them"


def test_a_second_document_is_refused(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "---\napp: other\n")
    assert "pipeline.yaml:3: not valid YAML: but found another document" in str(problem)
    assert problem.hint is not None and "one YAML document" in problem.hint


def test_a_yaml_error_says_where_the_unclosed_construct_began(tmp_path: Path) -> None:
    problem = error(tmp_path, "app: web\nmanifests: [a.yaml\nnamespace: x\n")
    assert "pipeline.yaml:3: not valid YAML: expected ',' or ']'" in str(problem)
    assert "(while parsing a flow sequence on line 2)" in str(problem)


@pytest.mark.parametrize(
    ("text", "variables"), [(MINIMAL + "namespace: a\x1fb\n", {}), (MINIMAL + "x: ${X}\n", {"X": "\x00"})]
)
def test_a_control_character_is_refused_naming_its_line(tmp_path: Path, text: str, variables: dict[str, str]) -> None:
    problem = error(tmp_path, text, variables)
    assert f"{tmp_path / 'pipeline.yaml'}:3: " in str(problem)
    assert "unacceptable character" in str(problem)


def test_lines_after_a_value_with_line_breaks_are_the_file_s_own(tmp_path: Path) -> None:
    problem = error(tmp_path, 'app: web\nmanifests: ["${M}"]\nstrategy: canary\n', {"M": "a\nb\nc"})
    assert str(problem).startswith(f"{tmp_path / 'pipeline.yaml'}:3: strategy: is 'canary'")


def test_a_value_adding_a_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "confirm:\n  mode: ${MODE}\n", {"MODE": "auto\n  approvers: [mallory]"})
    assert str(problem).startswith(f"{tmp_path / 'pipeline.yaml'}:4: the value of ${{MODE}} would change the structure")


@pytest.mark.parametrize(
    ("text", "variables", "overrides", "where"),
    [
        (MINIMAL, {}, Overrides(image="registry.local/web"), "--image / PIPELINE_STEPS_IMAGE: "),
        (MINIMAL + "image: {reference: registry.local/web}\n", {}, None, "pipeline.yaml:3: image.reference: "),
        (MINIMAL, {"IMAGE": "registry.local/web"}, None, "IMAGE (environment or --set): "),
    ],
)
def test_an_image_with_neither_tag_nor_digest_is_refused_where_it_was_given(
    tmp_path: Path, text: str, variables: dict[str, str], overrides: Overrides | None, where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, variables, overrides)
    assert where + "image 'registry.local/web' has neither tag nor digest" in str(caught.value)
    assert caught.value.hint is not None and "add a tag" in caught.value.hint


@pytest.mark.parametrize("image", ["registry.local/web:1", "web@sha256:" + "a" * 64, "localhost:5000/web:v2"])
def test_an_image_with_a_tag_or_a_digest_is_taken(tmp_path: Path, image: str) -> None:
    assert load(tmp_path, MINIMAL, {}, Overrides(image=image)).image.reference == image


def test_an_image_reference_that_is_none_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, MINIMAL, {}, Overrides(image="registry.local/Web:1"))
    assert "invalid image reference 'registry.local/Web:1'" in str(caught.value)
    assert caught.value.field == "--image / PIPELINE_STEPS_IMAGE"
