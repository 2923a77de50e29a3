"""Which registry credentials resolve_digest uses: environment first, then the auth files docker and buildah write."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import ImageError
from pipeline_steps.image import Credentials, ImageReference, find_credentials


def auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_docker_config(directory: Path, auths: dict[str, Any], **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": auths, **extra}))
    return path


def test_environment_wins_over_files(tmp_path: Path) -> None:
    write_docker_config(tmp_path, {"ghcr.io": auth("file-user", "file-pass")})
    environ = {
        "DOCKER_CONFIG": str(tmp_path),
        "PIPELINE_STEPS_REGISTRY_USERNAME": "env-user",
        "PIPELINE_STEPS_REGISTRY_PASSWORD": "env-pass",
    }

    creds = find_credentials(ImageReference.parse("ghcr.io/org/app"), environ=environ)

    assert creds == Credentials(
        "env-user", "env-pass", origin="$PIPELINE_STEPS_REGISTRY_USERNAME/$PIPELINE_STEPS_REGISTRY_PASSWORD"
    )
    assert "env-pass" not in repr(creds)


def test_docker_hub_entries_written_as_urls_match_docker_io(tmp_path: Path) -> None:
    path = write_docker_config(tmp_path, {"https://index.docker.io/v1/": auth("hubber", "pw:with:colons")})

    creds = find_credentials(ImageReference.parse("team/app:v1"), environ={"DOCKER_CONFIG": str(tmp_path)})

    assert creds == Credentials("hubber", "pw:with:colons", origin=str(path))


def test_home_docker_config_is_the_default(tmp_path: Path) -> None:
    write_docker_config(tmp_path / ".docker", {"https://registry.example.com": auth("u", "p")})

    creds = find_credentials(ImageReference.parse("registry.example.com/app"), environ={}, home=tmp_path)

    assert creds is not None and creds.username == "u"


def test_registry_auth_file_replaces_the_docker_config(tmp_path: Path) -> None:
    write_docker_config(tmp_path / "docker", {"ghcr.io": auth("docker-user", "x")})
    auth_file = write_docker_config(tmp_path / "containers", {"ghcr.io": auth("podman-user", "y")})
    environ = {"DOCKER_CONFIG": str(tmp_path / "docker"), "REGISTRY_AUTH_FILE": str(auth_file)}

    creds = find_credentials(ImageReference.parse("ghcr.io/org/app"), environ=environ)

    assert creds is not None and creds.username == "podman-user"


def test_the_most_specific_repository_entry_wins(tmp_path: Path) -> None:
    write_docker_config(
        tmp_path,
        {
            "ghcr.io": auth("whole-registry", "a"),
            "ghcr.io/org": auth("org", "b"),
            "ghcr.io/org/app": auth("one-repo", "c"),
            "ghcr.io/other": auth("other", "d"),
        },
    )
    environ = {"DOCKER_CONFIG": str(tmp_path)}

    def user(text: str) -> str | None:
        creds = find_credentials(ImageReference.parse(text), environ=environ)
        return creds.username if creds else None

    assert user("ghcr.io/org/app:v1") == "one-repo"
    assert user("ghcr.io/org/application:v1") == "org"
    assert user("ghcr.io/third/app") == "whole-registry"
    assert user("quay.io/org/app") is None


def test_credential_helper_entries_are_skipped(tmp_path: Path) -> None:
    write_docker_config(tmp_path, {"ghcr.io": {}}, credsStore="desktop", credHelpers={"ghcr.io": "gh"})

    assert find_credentials(ImageReference.parse("ghcr.io/org/app"), environ={"DOCKER_CONFIG": str(tmp_path)}) is None


def test_no_file_means_no_credentials(tmp_path: Path) -> None:
    assert find_credentials(ImageReference.parse("ghcr.io/a/b"), environ={"DOCKER_CONFIG": str(tmp_path)}) is None


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")

    with pytest.raises(ImageError, match=f"cannot read registry credentials from {tmp_path / 'config.json'}"):
        find_credentials(ImageReference.parse("ghcr.io/a/b"), environ={"DOCKER_CONFIG": str(tmp_path)})


def test_an_undecodable_auth_entry_is_named(tmp_path: Path) -> None:
    write_docker_config(tmp_path, {"ghcr.io": {"auth": "%%%not-base64"}})

    with pytest.raises(ImageError) as raised:
        find_credentials(ImageReference.parse("ghcr.io/a/b"), environ={"DOCKER_CONFIG": str(tmp_path)})

    assert "the auth entry for ghcr.io is not base64 of user:password" in str(raised.value)
