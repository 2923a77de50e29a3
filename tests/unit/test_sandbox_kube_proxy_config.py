"""kube-proxy's min sync period as a sandbox setting: written into a KubeProxyConfiguration, since kube-proxy
ignores its other flags once --config is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps_sandbox.cli import build_parser
from pipeline_steps_sandbox.kube_proxy import kube_proxy_command, kube_proxy_config
from pipeline_steps_sandbox.launcher import Launcher, SandboxError
from pipeline_steps_sandbox.netns import NetworkPlan

PLAN = NetworkPlan(42)
KUBECONFIG = Path("/sandbox/kubeconfig")


def test_the_config_holds_every_setting_the_flags_set_and_the_modes_min_sync_period() -> None:
    config = kube_proxy_config(KUBECONFIG, "sandbox-node-1", PLAN, "nftables", 2.0)
    assert config["apiVersion"] == "kubeproxy.config.k8s.io/v1alpha1"
    assert config["kind"] == "KubeProxyConfiguration"
    assert config["clientConnection"] == {"kubeconfig": str(KUBECONFIG)}
    assert config["hostnameOverride"] == "sandbox-node-1"
    assert config["mode"] == "nftables"
    assert config["clusterCIDR"] == "10.42.0.0/16"
    assert config["conntrack"] == {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}
    assert config["metricsBindAddress"] == "127.0.0.1:10249"
    assert config["healthzBindAddress"] == "127.0.0.1:10256"
    assert config["nftables"] == {"minSyncPeriod": "2000ms"}
    assert "iptables" not in config


def test_iptables_mode_takes_its_own_section() -> None:
    config = kube_proxy_config(KUBECONFIG, "n", PLAN, "iptables", 0.5)
    assert config["iptables"] == {"minSyncPeriod": "500ms"} and "nftables" not in config


def test_a_negative_period_or_an_unknown_mode_is_refused() -> None:
    with pytest.raises(SandboxError, match="cannot be negative"):
        kube_proxy_config(KUBECONFIG, "n", PLAN, "nftables", -1)
    with pytest.raises(SandboxError, match="choose one of"):
        kube_proxy_config(KUBECONFIG, "n", PLAN, "ipvs", 1)


def test_with_a_config_file_the_command_line_names_only_it() -> None:
    binary, config = Path("/bin/kube-proxy"), Path("/sandbox/kube-proxy/n.json")
    command = kube_proxy_command(binary, KUBECONFIG, "n", PLAN, "nftables", config)
    assert command == [str(binary), f"--config={config}", "--hostname-override=n"]
    assert "--proxy-mode=nftables" in kube_proxy_command(binary, KUBECONFIG, "n", PLAN, "nftables")


def test_up_takes_the_period_on_its_command_line() -> None:
    args = build_parser().parse_args(["up", "--kube-proxy-min-sync-period", "2.5"])
    assert args.kube_proxy_min_sync_period == 2.5
    assert build_parser().parse_args(["up"]).kube_proxy_min_sync_period is None


def test_the_python_data_plane_has_no_sync_period(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="needs the kube-proxy data plane"):
        Launcher(tmp_path).up(data_plane="python", kube_proxy_min_sync_period=2.0)
