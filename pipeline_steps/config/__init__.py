"""pipeline.yaml -> Config: one typed model, validated and immutable, and its JSON Schema for editors.

The file takes `${VAR}` substitution from the environment (plus `--set`), like the manifests, so one file
serves every environment. Flags and PIPELINE_STEPS_* environment variables override the file; flags win.
Every problem of a file is reported at once, each naming file, line, field and fix.
"""

from __future__ import annotations

from pipeline_steps.config.checks import Attempts, CheckSpec, CommandCheckSpec, HttpCheckSpec
from pipeline_steps.config.loading import load_config, parse_config
from pipeline_steps.config.mail import MailSettings, Security
from pipeline_steps.config.model import (
    CONFIRM_MODES,
    POST_CLEAN_POLICIES,
    STRATEGIES,
    BlueGreenSettings,
    Config,
    ConfirmSettings,
    DrainSettings,
    ImageSettings,
    PostCleanSettings,
    RollingSettings,
    Timeouts,
    VerifySettings,
)
from pipeline_steps.config.overrides import Overrides

__all__ = [
    "CONFIRM_MODES",
    "POST_CLEAN_POLICIES",
    "STRATEGIES",
    "Attempts",
    "BlueGreenSettings",
    "CheckSpec",
    "CommandCheckSpec",
    "Config",
    "ConfirmSettings",
    "DrainSettings",
    "HttpCheckSpec",
    "ImageSettings",
    "MailSettings",
    "Overrides",
    "PostCleanSettings",
    "RollingSettings",
    "Security",
    "Timeouts",
    "VerifySettings",
    "load_config",
    "parse_config",
]
