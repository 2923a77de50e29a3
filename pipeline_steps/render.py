"""Manifest rendering, as the steps use it: substitute `${VAR}`, load, upgrade legacy API versions, check.

The work is done in `pipeline_steps.manifests`; this module is the one place the steps import it from.
"""

from __future__ import annotations

from pipeline_steps.manifests.checks import Finding, check_manifests
from pipeline_steps.manifests.legacy import upgrade_legacy
from pipeline_steps.manifests.loading import expand_patterns, load_manifests
from pipeline_steps.manifests.model import Manifest, manifest_to_yaml
from pipeline_steps.manifests.substitution import referenced_variables, substitute

__all__ = [
    "Finding",
    "Manifest",
    "check_manifests",
    "expand_patterns",
    "load_manifests",
    "manifest_to_yaml",
    "referenced_variables",
    "substitute",
    "upgrade_legacy",
]
