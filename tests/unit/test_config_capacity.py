"""pipeline.yaml's `apply` and `capacity` sections: defaults, and what a user writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.config import Config, load_config
from pipeline_steps.errors import ConfigError

BASE = "app: web\nmanifests: [app.yaml]\n"


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "pipeline.yaml"
    path.write_text(BASE + text)
    return load_config(path, {})


def test_applies_do_not_force_and_switches_match_the_active_role_by_default(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.apply.force_conflicts is False
    assert config.capacity.match_active is True


def test_both_settings_are_read(tmp_path: Path) -> None:
    config = load(tmp_path, "apply: {force_conflicts: true}\ncapacity: {match_active: false}\n")
    assert config.apply.force_conflicts is True
    assert config.capacity.match_active is False


def test_a_misspelt_key_names_the_known_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "apply: {force_conflict: true}\n")
    assert "apply.force_conflict" in str(caught.value) and "force_conflicts" in str(caught.value)
