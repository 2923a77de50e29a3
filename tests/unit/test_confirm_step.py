"""The confirm step's settings and plan: pure, read from the config and the facts, no cluster.

The step in each mode, run through the runner on the cluster, is in tests/e2e/test_confirm_step.py.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from pipeline_steps.context import ReleaseContext
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.steps import confirm
from tests.support.confirm_context import release_context


def context(**confirm_section: Any) -> ReleaseContext:
    # Never connected: reading the settings and planning make no API call.
    return release_context(KubeCluster(client.ApiClient(), "shop"), **confirm_section)


def test_timeout_defaults_to_reject_after_thirty_minutes() -> None:
    settings = context().config.confirm

    assert settings.timeout_s == 1800.0
    assert settings.on_timeout == "reject"
    assert settings.approvers == ()


def test_wait_plan_names_the_timeout() -> None:
    assert "wait up to 90s for `pipeline-steps approve`" in confirm.plan(context(timeout="90s")).summary
