"""Only approvers decide: their own Role on the app's approval record (by `resourceNames`), and a
ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, CEL) under which a write that records a decision
must come from an approver and carry their authenticated name.

The CI identity keeps writing the record (opening a request, closing its own as cancelled or, past the timeout,
rejected); under the policy it can no longer approve, so `confirm.on_timeout: approve` is refused by the cluster
and the run stops as rejected. `pipeline-steps rbac --approvers` prints these objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline_steps import approvals

LABELS = {"app.kubernetes.io/managed-by": "pipeline-steps"}
#: The annotations that make up a decision: any change to them that leaves the record approved or rejected is a
#: decision (a new run id on an approved record, too).
DECISION_KEYS = (approvals.RUN_ID, approvals.DECISION, approvals.DECIDED_BY, approvals.DECIDED_AT, approvals.COMMENT)


def _cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _annotation(source: str, key: str) -> str:
    return f"({json.dumps(key)} in {source} ? {source}[{json.dumps(key)}] : '')"


def policy_name(app: str, namespace: str) -> str:
    return f"pipeline-steps-approvals-{namespace}-{app}"


def approver_manifests(
    app: str, namespace: str, *, users: Sequence[str], groups: Sequence[str], role_name: str
) -> list[dict[str, Any]]:
    """The approvers' Role and RoleBinding (in `namespace`) and the cluster-wide policy and its binding."""
    record = approvals.record_name(app)
    subjects = [{"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in users]
    subjects += [{"kind": "Group", "name": g, "apiGroup": "rbac.authorization.k8s.io"} for g in groups]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": role_name, "namespace": namespace, "labels": LABELS},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [record], "verbs": ["get", "patch"]}
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role_name, "namespace": namespace, "labels": LABELS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": subjects,
    }
    changed = " || ".join(
        f"{_annotation('variables.now', key)} != {_annotation('variables.before', key)}" for key in DECISION_KEYS
    )
    name = policy_name(app, namespace)
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": LABELS},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["configmaps"],
                        "resourceNames": [record],
                    }
                ]
            },
            "variables": [
                {"name": "now", "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
                {
                    "name": "before",
                    "expression": "oldObject != null && has(oldObject.metadata.annotations) ? "
                    "oldObject.metadata.annotations : {}",
                },
                {"name": "decision", "expression": _annotation("variables.now", approvals.DECISION)},
                {"name": "by", "expression": _annotation("variables.now", approvals.DECIDED_BY)},
                {"name": "changed", "expression": changed},
                {
                    "name": "approver",
                    "expression": f"request.userInfo.username in {_cel_list(users)} || "
                    f"(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in {_cel_list(groups)}))",
                },
            ],
            "validations": [
                {
                    "expression": "!variables.changed || variables.decision in ['', "
                    f"{json.dumps(approvals.AWAITING)}, {json.dumps(approvals.CANCELLED)}] || "
                    f"(variables.decision == 'rejected' && variables.by == {json.dumps(approvals.TIMEOUT_DECIDER)}) || "
                    "(variables.approver && variables.by == request.userInfo.username)",
                    "messageExpression": f"'only an approver of {app} records a decision, in their own name: ' + "
                    "request.userInfo.username + ' may not record ' + variables.decision + ' by ' + variables.by",
                    "reason": "Forbidden",
                }
            ],
        },
    }
    policy_binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": LABELS},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }
    return [role, binding, policy, policy_binding]
