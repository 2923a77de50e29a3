"""Certificates and keys of the sandbox's control plane.

One CA signs the apiserver's serving certificate and a client certificate per component. The
admin identity is a client certificate in `system:masters`, as kubeadm does it, so RBAC stays on
and behaves as on any real cluster.

A second CA, the front-proxy CA, signs only the client certificate the apiserver's aggregator shows
when it proxies a request to an extension API server (the node agent's metrics API), as kubeadm's
front-proxy-ca does: that certificate vouches for the X-Remote-User headers, so no component's own
client certificate may be taken for it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate: file stem, user name (CN) and groups (O)."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


# The identities the sandbox hands out. The node agent runs as admin: one process stands in for
# several kubelets, which the Node authorizer (one identity per node) cannot express.
ADMIN = ClientIdentity("admin", "sandbox-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
APISERVER_KUBELET_CLIENT = ClientIdentity("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
IDENTITIES = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, APISERVER_KUBELET_CLIENT)
#: The aggregator's client certificate (signed by the front-proxy CA); its CN is the one allowed name.
FRONT_PROXY_CLIENT = ClientIdentity("front-proxy-client", "front-proxy-client")
#: The names the node agent's metrics API answers to: the APIService's Service (the aggregator checks
#: `<service>.<namespace>.svc`), and loopback for a direct look.
METRICS_SERVICE_NAMESPACE = "kube-system"
METRICS_SERVICE_NAME = "sandbox-metrics"


@dataclass(frozen=True)
class PkiPaths:
    """Where each certificate and key of one sandbox lives."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.root / "sa.pub"

    @property
    def front_proxy_ca_cert(self) -> Path:
        return self.root / "front-proxy-ca.crt"

    @property
    def front_proxy_ca_key(self) -> Path:
        return self.root / "front-proxy-ca.key"

    @property
    def metrics_serving_cert(self) -> Path:
        return self.root / "metrics.crt"

    @property
    def metrics_serving_key(self) -> Path:
        return self.root / "metrics.key"

    def client_cert(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.stem}.crt"

    def client_key(self, identity: ClientIdentity) -> Path:
        return self.root / f"{identity.stem}.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A little slack before "now" so a certificate is valid on a clock that runs behind.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _new_ca(name: x509.Name) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _serving_cert(
    subject: str,
    dns_names: tuple[str, ...],
    ips: tuple[str, ...],
    ca_name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        _builder(_name(subject), ca_name, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _client_cert(
    identity: ClientIdentity, ca_name: x509.Name, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    cert = (
        _builder(_name(identity.user, identity.groups), ca_name, key.public_key())
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def create_pki(paths: PkiPaths, service_ip: str) -> None:
    """Create a fresh CA, serving certificate, client certificates and service-account keys."""
    paths.root.mkdir(parents=True, exist_ok=True)

    ca_name = _name("pipeline-steps-sandbox-ca")
    ca_key, ca_cert = _new_ca(ca_name)
    _write_key(paths.ca_key, ca_key)
    _write_cert(paths.ca_cert, ca_cert)

    serving_key, serving_cert = _serving_cert(
        "kube-apiserver",
        (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ("127.0.0.1", service_ip),
        ca_name,
        ca_key,
    )
    _write_key(paths.serving_key, serving_key)
    _write_cert(paths.serving_cert, serving_cert)

    for identity in IDENTITIES:
        key, cert = _client_cert(identity, ca_name, ca_key)
        _write_key(paths.client_key(identity), key)
        _write_cert(paths.client_cert(identity), cert)

    metrics_service = f"{METRICS_SERVICE_NAME}.{METRICS_SERVICE_NAMESPACE}.svc"
    metrics_key, metrics_cert = _serving_cert(
        "sandbox-metrics", (metrics_service, "localhost"), ("127.0.0.1",), ca_name, ca_key
    )
    _write_key(paths.metrics_serving_key, metrics_key)
    _write_cert(paths.metrics_serving_cert, metrics_cert)

    front_proxy_name = _name("pipeline-steps-sandbox-front-proxy-ca")
    front_proxy_key, front_proxy_cert = _new_ca(front_proxy_name)
    _write_key(paths.front_proxy_ca_key, front_proxy_key)
    _write_cert(paths.front_proxy_ca_cert, front_proxy_cert)
    key, cert = _client_cert(FRONT_PROXY_CLIENT, front_proxy_name, front_proxy_key)
    _write_key(paths.client_key(FRONT_PROXY_CLIENT), key)
    _write_cert(paths.client_cert(FRONT_PROXY_CLIENT), cert)

    # Service-account tokens are signed with RSA: every client of the token review API accepts it.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(paths.service_account_key, sa_key)
    paths.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
