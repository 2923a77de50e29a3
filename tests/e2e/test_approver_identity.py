"""Only approvers decide, enforced by the sandbox's real API server: the approvers' Role and admission policy
that `pipeline-steps rbac --approvers` prints, users made as client certificates signed by the sandbox CA. The
CI identity can open and follow the approval record but cannot write a decision; an approver's decision is
recorded in the name the API server authenticated."""

from __future__ import annotations

import base64
import datetime as dt
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from pipeline_steps import approvals
from pipeline_steps.errors import ClusterError
from pipeline_steps.kube.cluster import KubeCluster
from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Workspace

RUN_ID = "rel-guarded"
#: The policy is loaded by the API server a moment after it is created.
POLICY_ACTIVE_S = 60.0


def user_kubeconfig(cluster: Cluster, user: str, groups: tuple[str, ...], path: Path) -> Path:
    """A kubeconfig with a client certificate for `user` in `groups`, signed by the sandbox CA."""
    pki = cluster.kubeconfig.parent / "pki"
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, user)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    ca = (
        server.get("certificate-authority-data")
        or base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    user_entry = {
        "client-certificate-data": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
        "client-key-data": base64.b64encode(pem_key).decode(),
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"], "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": user, "context": {"cluster": "c", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _kube(kubeconfig: Path, namespace: str) -> KubeCluster:
    return KubeCluster(kube_config.new_client_from_config(config_file=str(kubeconfig)), namespace)


def _forge_approval(ci: KubeCluster) -> None:
    """What a CI identity could try by hand: patch the record to approved in an approver's name."""
    resource = ci.resource("v1", "ConfigMap")
    patch = {"metadata": {"annotations": {approvals.DECISION: "approved", approvals.DECIDED_BY: "alice"}}}
    resource.patch(
        name=approvals.record_name("web"),
        namespace=ci.namespace,
        body=patch,
        content_type="application/merge-patch+json",
        dry_run="All",
    )


def test_only_an_approver_records_a_decision_and_in_the_name_the_cluster_authenticated(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    if cluster.external:
        pytest.skip("creates users and a cluster-wide admission policy; run on the sandbox")
    admin = Workspace.create(tmp_path / "admin", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    printed = admin.cli("rbac", "-c", str(admin.config), "--user", "ci-bot",
                        "--approvers", "--approver-group", "release-approvers")  # fmt: skip
    assert printed.code == ExitCode.OK, printed
    objects = list(yaml.safe_load_all(printed.stdout))
    policy = next(o for o in objects if o["kind"] == "ValidatingAdmissionPolicy")
    cluster.apply(namespace, *objects)
    try:
        ci_config = user_kubeconfig(cluster, "ci-bot", (), tmp_path / "ci-bot.kubeconfig")
        alice_config = user_kubeconfig(cluster, "alice", ("release-approvers",), tmp_path / "alice.kubeconfig")
        ci = _kube(ci_config, namespace)
        # The CI identity opens the request, as confirm does in `wait` mode: allowed.
        approvals.open_request(ci, "web", RUN_ID)
        deadline = time.monotonic() + POLICY_ACTIVE_S
        while True:
            try:
                _forge_approval(ci)
            except ApiException as exc:  # the policy refuses it
                assert "only an approver of web records a decision" in str(exc), exc
                break
            assert time.monotonic() < deadline, "the admission policy never took effect"
            time.sleep(0.5)

        workspace = Workspace.create(tmp_path / "ci", "bluegreen", ci_config, NAMESPACE=namespace)
        denied = workspace.cli("approve", "-c", str(workspace.config), "--run-id", RUN_ID)
        assert denied.code != ExitCode.OK, denied
        refusal = "only an approver of web records a decision, in their own name: ci-bot may not record approved"
        assert f"{refusal} by ci-bot" in denied.stderr, denied
        posing = workspace.cli("approve", "-c", str(workspace.config), "--run-id", RUN_ID, "--approver", "alice")
        assert posing.code == ExitCode.USAGE, posing
        assert "these credentials are ci-bot, who may not decide in the name of alice" in posing.stderr, posing
        record = cluster.core.read_namespaced_config_map(approvals.record_name("web"), namespace)
        assert record.metadata.annotations[approvals.DECISION] == approvals.AWAITING

        approver = Workspace.create(tmp_path / "alice", "bluegreen", alice_config, NAMESPACE=namespace)
        approved = approver.cli("approve", "-c", str(approver.config), "--run-id", RUN_ID, "--output", "json",
                                "--comment", "checked staging")  # fmt: skip
        assert approved.code == ExitCode.OK, approved
        assert approved.json()["by"] == "alice", approved
        record = cluster.core.read_namespaced_config_map(approvals.record_name("web"), namespace)
        assert record.metadata.annotations[approvals.DECISION] == "approved"
        assert record.metadata.annotations[approvals.DECIDED_BY] == "alice"
        # The approver's Role reaches the app's record and nothing else.
        with pytest.raises(ClusterError) as refused:
            _kube(alice_config, namespace).get("v1", "ConfigMap", "another-record")
        assert refused.value.status == 403
    finally:
        admission = client.AdmissionregistrationV1Api(cluster.api)
        admission.delete_validating_admission_policy_binding(policy["metadata"]["name"])
        admission.delete_validating_admission_policy(policy["metadata"]["name"])
