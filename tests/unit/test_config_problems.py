"""What a user reads about a wrong pipeline.yaml: every problem at once, each with file, line, field and fix;
and the typed sections (checks, mail) that a loaded config holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline_steps.config import (
    Attempts,
    CommandCheckSpec,
    Config,
    HttpCheckSpec,
    MailSettings,
    Overrides,
    Security,
    load_config,
)
from pipeline_steps.errors import ConfigError

MINIMAL = "app: web\nmanifests: [k8s/*.yaml]\n"
SECRET = "hunter2-very-secret"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str, variables: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), variables or {})
    return caught.value


def test_every_problem_is_reported_at_once_in_the_order_of_the_file(tmp_path: Path) -> None:
    text = """\
app: Web
manifests: [k8s/*.yaml]
strategy: canary
confirm:
  mode: auto
  timout: 5m
verify:
  staged:
    - name: home
      http: {path: /}
    - name: api
      http: {method: FETCH}
timeouts: {rollout: soon}
"""
    problem = error(tmp_path, text)
    path = tmp_path / "pipeline.yaml"
    assert str(problem).splitlines() == [
        f"{path}:1: app: 'Web' is not a DNS label (lower-case letters, digits and '-', at most 50)",
        f"{path}:3: strategy: is 'canary'; choose one of: bluegreen, rolling",
        f"{path}:6: confirm.timout: is not a known setting (did you mean `timeout`? known here: approvers, mail, "
        "mode, on_timeout, timeout; check the spelling)",
        f"{path}:12: verify.staged[1].http.method: 'FETCH' is not an HTTP method "
        "(GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
        f'{path}:13: timeouts.rollout: \'soon\' is not a duration (write e.g. 30, "30s", "5m", "1h")',
    ]
    # The error itself is the first problem's, as one alone would be.
    assert (problem.source, problem.field) == (f"{path}:1", "app")


def test_an_unknown_key_names_the_nearest_known_one(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "namspace: prod\n")
    assert (problem.source, problem.field) == (f"{tmp_path / 'pipeline.yaml'}:3", "namspace")
    hint = problem.hint or ""
    assert hint.startswith("did you mean `namespace`? known here: access, allow_missing_readiness, app, ")


def test_an_unknown_key_far_from_any_known_one_lists_them(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "rolling: {zzz: 1}\n")
    assert problem.field == "rolling.zzz"
    assert problem.hint == "known here: public_service; check the spelling"


def test_a_missing_key_is_named_at_the_line_of_its_section(tmp_path: Path) -> None:
    text = MINIMAL + "confirm:\n  mode: wait\n  mail:\n    host: smtp.example.com\n    to: ops@example.com\n"
    problem = error(tmp_path, text)
    assert str(problem) == (
        f"{tmp_path / 'pipeline.yaml'}:5: confirm.mail.from: is required (add `from:` to confirm.mail)"
    )


def test_a_check_list_item_is_named_by_its_position_and_line(tmp_path: Path) -> None:
    text = MINIMAL + "verify:\n  prod:\n    - http: {}\n    - name: smoke\n      retries: 2\n      successes: 3\n"
    problem = error(tmp_path, text)
    path = tmp_path / "pipeline.yaml"
    assert str(problem).splitlines() == [
        f"{path}:6: verify.prod[1].http: a check needs exactly one of `http` or `command`",
        f"{path}:8: verify.prod[1].successes: needs 1 <= successes (3) <= retries (2)",
    ]


def test_a_substituted_value_is_checked_as_the_type_it_becomes(tmp_path: Path) -> None:
    text = MINIMAL + "image:\n  resolve_digest: ${RESOLVE:-false}\nconfirm:\n  mode: ${MODE:-auto}\n"
    config = load_config(write(tmp_path, text), {})
    assert (config.image.resolve_digest, config.confirm.mode) == (False, "auto")
    text = MINIMAL + "image:\n  resolve_digest: ${RESOLVE}\n"
    assert load_config(write(tmp_path, text), {"RESOLVE": "false"}).image.resolve_digest is False
    problem = error(tmp_path, text, {"RESOLVE": "maybe"})
    assert str(problem) == (
        f"{tmp_path / 'pipeline.yaml'}:4: image.resolve_digest: must be bool, not str 'maybe' (write true or false)"
    )
    # Quoted, the value stays text whatever it holds.
    problem = error(tmp_path, MINIMAL + "image:\n  resolve_digest: '${RESOLVE}'\n", {"RESOLVE": "true"})
    assert "must be bool, not str 'true'" in str(problem)


def test_a_written_password_is_refused_without_being_shown(tmp_path: Path) -> None:
    mail = f"  mail: {{host: smtp.example.com, from: ci@example.com, to: ops@example.com, password: {SECRET}}}\n"
    problem = error(tmp_path, MINIMAL + "confirm:\n" + mail)
    assert problem.field == "confirm.mail.password"
    assert "must not be written into the config file" in str(problem)
    assert SECRET not in str(problem)


def test_a_flag_replaces_the_file_value_which_is_then_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "namespace: Shop_Prod\nconfirm: {mode: sometimes}\n")
    config = load_config(path, {}, Overrides(namespace="shop", confirm_mode="auto"))
    assert (config.namespace, config.confirm.mode) == ("shop", "auto")


def test_a_flag_over_a_section_that_is_no_mapping_leaves_the_error_to_the_file(tmp_path: Path) -> None:
    problem = error(tmp_path, MINIMAL + "confirm: [auto]\n")
    assert problem.field == "confirm"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL + "confirm: [auto]\n"), {}, Overrides(confirm_mode="auto"))
    assert caught.value.field == "confirm"
    assert "must be a mapping, not list" in str(caught.value)


def test_a_loaded_config_holds_check_specs_ready_to_run(tmp_path: Path) -> None:
    text = MINIMAL + (
        "verify:\n  staged:\n    - http: {path: /health, expect_status: [200, 204]}\n      timeout: 2s\n"
        "    - command: ./smoke.sh {base_url}\n      env: {LEVEL: 2}\n"
    )
    config = load_config(write(tmp_path, text), {})
    assert config.verify_staged == (
        HttpCheckSpec(name="http-1", attempts=Attempts(timeout_s=2.0), path="/health", expect_status=(200, 204)),
        CommandCheckSpec(name="command-2", attempts=Attempts(), argv=("./smoke.sh", "{base_url}"), env={"LEVEL": "2"}),
    )
    assert config.verify_prod == ()


def test_a_loaded_config_holds_mail_settings_naming_their_file(tmp_path: Path) -> None:
    mail = "  mail: {host: smtp.example.com, security: tls, from: ci@example.com, to: ops@example.com}\n"
    path = write(tmp_path, MINIMAL + "confirm:\n" + mail)
    settings = load_config(path, {}).confirm.mail
    assert isinstance(settings, MailSettings)
    assert (settings.security, settings.port, settings.source) == (Security.TLS, 465, str(path))
    assert settings.password is None


def test_the_password_is_read_from_the_environment_of_the_run(tmp_path: Path) -> None:
    mail = (
        "  mail: {host: smtp.example.com, from: ci@example.com, to: ops@example.com, username: bot, "
        "password_env: SMTP_PASSWORD}\n"
    )
    settings = load_config(write(tmp_path, MINIMAL + "confirm:\n" + mail), {}).confirm.mail
    assert settings is not None
    with_password = settings.with_password_from({"SMTP_PASSWORD": SECRET})
    assert (settings.password, with_password.password) == (None, SECRET)
    assert with_password.source == settings.source


def test_a_config_cannot_be_changed(tmp_path: Path) -> None:
    config: Config = load_config(write(tmp_path, MINIMAL), {})
    with pytest.raises(ValidationError, match="frozen"):
        config.app = "other"
    with pytest.raises(ValidationError, match="frozen"):
        config.timeouts.rollout_s = 1.0
