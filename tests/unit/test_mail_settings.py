"""Reading `confirm.mail`: defaults, every kind of mistake, and the password kept out of sight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import ConfigError
from pipeline_steps.notify import MailSettings, Security, read_password
from pipeline_steps.notify.smtp import tls_context

SECRET = "hunter2-very-secret"


def minimal(**extra: Any) -> dict[str, Any]:
    return {"host": "smtp.example.com", "from": "ci@example.com", "to": "ops@example.com", **extra}


def parse(data: dict[str, Any], env: dict[str, str] | None = None) -> MailSettings:
    return MailSettings.from_mapping(data, source="deploy/pipeline.yaml", env=env or {})


def config_error(data: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(data, env)
    assert caught.value.source == "deploy/pipeline.yaml"
    return caught.value


def test_minimal_section_gets_the_defaults() -> None:
    settings = parse(minimal())

    assert settings.security is Security.STARTTLS
    assert settings.port == 587
    assert settings.to == ("ops@example.com",)
    assert settings.cc == ()
    assert settings.username is None and settings.password is None
    assert settings.timeout == 30.0
    assert settings.retry_for == 60.0
    assert settings.best_effort is False
    assert settings.ca_file is None
    assert settings.address == "smtp.example.com:587"


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_port_defaults_by_security(security: str, port: int) -> None:
    assert parse(minimal(security=security)).port == port


def test_every_setting_is_read() -> None:
    settings = parse(
        minimal(
            port=2525,
            security="tls",
            username="release-bot",
            password_env="SMTP_PASSWORD",
            to=["ops@example.com", "Release Lead <lead@example.com>"],
            cc="a@example.com, b@example.com",
            timeout="2m",
            retry_for="90s",
            ca_file="certs/ca.pem",
            best_effort=True,
        ),
        env={"SMTP_PASSWORD": SECRET},
    )

    assert settings.port == 2525
    assert settings.security is Security.TLS
    assert settings.password == SECRET
    assert settings.to == ("ops@example.com", "Release Lead <lead@example.com>")
    assert settings.cc == ("a@example.com", "b@example.com")
    assert settings.recipients == settings.to + settings.cc
    assert settings.timeout == 120.0
    assert settings.retry_for == 90.0
    assert settings.ca_file == "certs/ca.pem"
    assert settings.best_effort is True


def test_password_is_never_shown() -> None:
    settings = parse(minimal(username="bot", password_env="SMTP_PASSWORD"), env={"SMTP_PASSWORD": SECRET})

    for shown in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert SECRET not in shown
        assert "password='***'" in shown
        assert "password_env='SMTP_PASSWORD'" in shown


def test_literal_password_is_refused_without_echoing_it() -> None:
    error = config_error(minimal(username="bot", password=SECRET))

    assert error.field == "confirm.mail.password"
    assert error.hint is not None and "password_env" in error.hint and "password_file" in error.hint
    assert SECRET not in str(error)


@pytest.mark.parametrize("key", ["host", "from", "to"])
def test_missing_required_setting_is_named(key: str) -> None:
    data = minimal()
    del data[key]

    error = config_error(data)

    assert error.field == f"confirm.mail.{key}"
    assert error.hint


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (minimal(prot=25), "confirm.mail.prot"),
        (minimal(port="five"), "confirm.mail.port"),
        (minimal(port=True), "confirm.mail.port"),
        (minimal(port=70000), "confirm.mail.port"),
        (minimal(security="ssl"), "confirm.mail.security"),
        (minimal(timeout="soon"), "confirm.mail.timeout"),
        (minimal(timeout=0), "confirm.mail.timeout"),
        (minimal(retry_for="-5s"), "confirm.mail.retry_for"),
        (minimal(best_effort="yes"), "confirm.mail.best_effort"),
        (minimal(to=[]), "confirm.mail.to"),
        (minimal(to=["ops"]), "confirm.mail.to"),
        (minimal(to={"a": "b"}), "confirm.mail.to"),
        (minimal(cc=["not an address"]), "confirm.mail.cc"),
        (minimal(**{"from": "ci at example"}), "confirm.mail.from"),
        (minimal(host="smtp://smtp.example.com"), "confirm.mail.host"),
        (minimal(host=""), "confirm.mail.host"),
    ],
)
def test_wrong_setting_is_named(data: dict[str, Any], field: str) -> None:
    assert config_error(data).field == field


def test_section_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        MailSettings.from_mapping(["host"], source="pipeline.yaml", env={})  # type: ignore[arg-type]


def test_unknown_key_lists_the_known_ones() -> None:
    error = config_error(minimal(usernme="bot"))

    assert error.field == "confirm.mail.usernme"
    assert error.hint is not None and "username" in error.hint


def test_credentials_over_plain_smtp_are_refused() -> None:
    error = config_error(minimal(security="none", username="bot", password_env="SMTP_PASSWORD"))

    assert error.field == "confirm.mail.security"
    assert "unencrypted" in str(error)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"username": "bot"}, "confirm.mail.username"),
        ({"password_env": "SMTP_PASSWORD"}, "confirm.mail.password_env"),
        ({"password_file": "/run/secrets/smtp"}, "confirm.mail.password_file"),
        ({"username": "bot", "password_env": "P", "password_file": "/run/secrets/smtp"}, "confirm.mail.password_file"),
    ],
)
def test_incomplete_or_doubled_credentials_are_named(extra: dict[str, Any], field: str) -> None:
    assert config_error(minimal(**extra)).field == field


def test_unset_password_variable_is_reported_when_the_password_is_needed() -> None:
    # Stages that never send mail read the same file, so reading it does not require the secret.
    settings = parse(minimal(username="bot", password_env="SMTP_PASSWORD"), env={"SMTP_PASSWORD": ""})

    with pytest.raises(ConfigError) as caught:
        read_password(settings)

    assert caught.value.field == "confirm.mail.password_env"
    assert "SMTP_PASSWORD" in str(caught.value)


def test_password_comes_from_the_environment() -> None:
    settings = parse(minimal(username="bot", password_env="SMTP_PASSWORD"), env={"SMTP_PASSWORD": SECRET})

    assert read_password(settings) == SECRET


def test_password_comes_from_a_file_without_its_newline(tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text(SECRET + "\n")
    settings = parse(minimal(username="bot", password_file=str(secret_file)))

    assert read_password(settings) == SECRET


def test_missing_password_file_is_named(tmp_path: Path) -> None:
    settings = parse(minimal(username="bot", password_file=str(tmp_path / "absent")))

    with pytest.raises(ConfigError) as caught:
        read_password(settings)

    assert caught.value.field == "confirm.mail.password_file"


def test_no_password_without_username() -> None:
    assert read_password(parse(minimal())) is None


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    settings = parse(minimal(ca_file=str(tmp_path / "absent.pem")))

    with pytest.raises(ConfigError) as caught:
        tls_context(settings)

    assert caught.value.field == "confirm.mail.ca_file"
