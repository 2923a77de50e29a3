"""Who an approval is recorded for, and the objects that let only approvers decide."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps import maintenance
from pipeline_steps.approval_policy import approver_manifests
from pipeline_steps.errors import ConfigError
from pipeline_steps.kube import identity
from pipeline_steps.kube.identity import Identity


@pytest.fixture
def cluster_says(monkeypatch: pytest.MonkeyPatch) -> Any:
    def setup(me: Identity | None, *, may_act_as: tuple[str, ...] = ()) -> Any:
        monkeypatch.setattr(identity, "authenticated", lambda _cluster: me)
        monkeypatch.setattr(identity, "may_impersonate", lambda _cluster, name: name in may_act_as)
        return type("Ctx", (), {"cluster": object()})()

    return setup


def test_the_approver_is_whom_the_credentials_authenticate_as(cluster_says: Any) -> None:
    ctx = cluster_says(Identity("alice", ("release-approvers",)))
    assert maintenance.approver_of(ctx, None, lambda: "login-name") == "alice"
    assert maintenance.approver_of(ctx, "alice", None) == "alice"


def test_another_name_is_refused_unless_the_credentials_may_act_as_that_user(cluster_says: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        maintenance.approver_of(cluster_says(Identity("ci-bot")), "alice", None)
    assert refused.value.field == "--approver"
    assert "these credentials are ci-bot, who may not decide in the name of alice" in str(refused.value)
    # An admin who may impersonate alice could decide as alice anyway (kubectl --as).
    assert maintenance.approver_of(cluster_says(Identity("admin"), may_act_as=("alice",)), "alice", None) == "alice"


def test_a_cluster_that_cannot_say_who_takes_the_name_given_or_the_login(cluster_says: Any) -> None:
    ctx = cluster_says(None)
    assert maintenance.approver_of(ctx, "bob", None) == "bob"
    assert maintenance.approver_of(ctx, None, lambda: "login-name") == "login-name"
    with pytest.raises(ConfigError):
        maintenance.approver_of(ctx, None, None)


def test_approvers_get_the_apps_record_only_and_a_policy_bound_to_their_namespace() -> None:
    role, binding, policy, policy_binding = approver_manifests(
        "web", "prod", users=("alice",), groups=("release-approvers",), role_name="web-approvers"
    )
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["pipeline-steps-web"],
         "verbs": ["get", "patch"]}
    ]  # fmt: skip
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("User", "alice"), ("Group", "release-approvers")]
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resourceNames"] == ["pipeline-steps-web"]
    approver = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "approver")
    assert '["alice"]' in approver and '["release-approvers"]' in approver
    assert policy_binding["spec"]["policyName"] == policy["metadata"]["name"] == "pipeline-steps-approvals-prod-web"
    assert policy_binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "prod"}
    }
    assert policy_binding["spec"]["validationActions"] == ["Deny"]
