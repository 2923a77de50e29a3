"""Command lines of the control-plane components and the kubeconfigs they use.

Flags follow what kubeadm and kwokctl's binary runtime pass to the same binaries, cut to a
single-node control plane on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline_steps_sandbox.addresses import service_cidr
from pipeline_steps_sandbox.certs import (
    ADMIN,
    APISERVER_KUBELET_CLIENT,
    CONTROLLER_MANAGER,
    FRONT_PROXY_CLIENT,
    SCHEDULER,
    ClientIdentity,
)
from pipeline_steps_sandbox.layout import Layout

#: How often the HPA controller reconciles. A real cluster's default is 15 s; the sandbox's node agent
#: samples CPU every 5 s, and a test that waits for a scale-up waits three times less.
HPA_SYNC_PERIOD = "5s"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    """A kubeconfig with one cluster, one user and one context, all named `sandbox`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": user}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def write_kubeconfigs(layout: Layout, apiserver_url: str) -> None:
    pki = layout.pki
    identities: list[tuple[Path, ClientIdentity]] = [
        (layout.kubeconfig, ADMIN),
        (layout.component_kubeconfig("controller-manager"), CONTROLLER_MANAGER),
        (layout.component_kubeconfig("scheduler"), SCHEDULER),
    ]
    for path, identity in identities:
        write_kubeconfig(
            path, apiserver_url, pki.ca_cert, pki.client_cert(identity), pki.client_key(identity), identity.user
        )


def etcd_command(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(bin_dir / "etcd"),
        "--name=sandbox",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=sandbox={peer}",
        # A throwaway test store: losing it on a power cut costs nothing, fsync costs seconds.
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_command(bin_dir: Path, layout: Layout, ports: Ports, net: int) -> list[str]:
    pki = layout.pki
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        # Needed on machines without a default route, where the apiserver cannot pick one itself.
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.client_cert(APISERVER_KUBELET_CLIENT)}",
        f"--kubelet-client-key={pki.client_key(APISERVER_KUBELET_CLIENT)}",
        "--authorization-mode=Node,RBAC",
        # The aggregator (for the node agent's metrics.k8s.io) proxies with the front-proxy client certificate
        # and says who the user is in these headers; kubeadm's names and flags.
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT.user}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.client_cert(FRONT_PROXY_CLIENT)}",
        f"--proxy-client-key-file={pki.client_key(FRONT_PROXY_CLIENT)}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={service_cidr(net)}",
        # The default reconciler would publish 127.0.0.1 as the `kubernetes` endpoint, which
        # EndpointSlice validation rejects.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_command(bin_dir: Path, layout: Layout, ports: Ports, net: int) -> list[str]:
    pki = layout.pki
    kubeconfig = layout.component_kubeconfig("controller-manager")
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.service_account_key}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={service_cidr(net)}",
        "--cluster-name=sandbox",
        # The sandbox's nodes are processes on this machine: no cloud, no node CIDRs to hand out.
        "--allocate-node-cidrs=false",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
        f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_command(bin_dir: Path, layout: Layout, ports: Ports) -> list[str]:
    kubeconfig = layout.component_kubeconfig("scheduler")
    return [
        str(bin_dir / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        "--profiling=false",
        "--v=1",
    ]
