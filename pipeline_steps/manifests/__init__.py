"""Manifests: `${VAR}` substitution, loading with file:line positions, legacy API upgrades and checks.

The public names are re-exported by `pipeline_steps.render`, which is what the steps import.
"""
