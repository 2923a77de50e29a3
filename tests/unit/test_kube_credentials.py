"""Where cluster credentials come from (explicit, KUBECONFIG, ~/.kube/config, in-cluster) and bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.config.config_exception import ConfigException

from pipeline_steps.errors import ConfigError
from pipeline_steps.kube.connection import connect, credentials_source

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: other
  cluster: {server: "https://127.0.0.2:6443", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: not-a-real-token}
contexts:
- name: local
  context: {cluster: local, user: me}
- name: other
  context: {cluster: other, user: me}
current-context: local
"""


def home_with_config(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(KUBECONFIG, encoding="utf-8")
    return home


# -- credentials_source -------------------------------------------------------------------------------


def test_explicit_path_wins_over_everything(tmp_path: Path) -> None:
    env = {"KUBECONFIG": "/env/config", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert credentials_source("/flag/config", env, home_with_config(tmp_path)) == "/flag/config"


def test_kubeconfig_variable_wins_over_the_home_file(tmp_path: Path) -> None:
    env = {"KUBECONFIG": "/a/config:/b/config", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert credentials_source(None, env, home_with_config(tmp_path)) == "/a/config:/b/config"


def test_home_file_wins_over_in_cluster(tmp_path: Path) -> None:
    home = home_with_config(tmp_path)
    assert credentials_source(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, home) == str(home / ".kube" / "config")


def test_empty_kubeconfig_variable_and_flag_are_unset(tmp_path: Path) -> None:
    home = home_with_config(tmp_path)
    assert credentials_source("", {"KUBECONFIG": ""}, home) == str(home / ".kube" / "config")


def test_in_cluster_when_nothing_else_is_there(tmp_path: Path) -> None:
    assert credentials_source(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path) == "in-cluster"


def test_nothing_at_all_says_every_way_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        credentials_source(None, {"KUBERNETES_SERVICE_HOST": ""}, tmp_path)
    assert caught.value.message == "no cluster credentials found"
    assert caught.value.hint == (
        "pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, or run in a pod with a ServiceAccount"
    )


# -- connect, through the process environment ---------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No KUBECONFIG, no in-cluster variables, and an empty HOME under tmp_path."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    empty_home = tmp_path / "empty-home"
    empty_home.mkdir()
    monkeypatch.setenv("HOME", str(empty_home))
    return monkeypatch


def test_connect_reads_the_home_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HOME", str(home_with_config(tmp_path)))
    api = connect()
    assert isinstance(api, client.ApiClient)
    assert api.configuration.host == "https://127.0.0.1:6443"


def test_connect_uses_the_named_context(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HOME", str(home_with_config(tmp_path)))
    assert connect(context="other").configuration.host == "https://127.0.0.2:6443"


def test_connect_prefers_kubeconfig_over_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HOME", str(home_with_config(tmp_path)))
    elsewhere = tmp_path / "ci-config"
    elsewhere.write_text(KUBECONFIG.replace("127.0.0.1", "127.0.0.9"), encoding="utf-8")
    clean_env.setenv("KUBECONFIG", str(elsewhere))
    assert connect().configuration.host == "https://127.0.0.9:6443"


def test_connect_without_credentials(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no cluster credentials found"):
        connect()


def test_missing_kubeconfig_file_is_a_config_error_naming_it(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(ConfigError) as caught:
        connect(kubeconfig=missing)
    assert caught.value.source == missing
    assert caught.value.message.startswith(f"{missing}: cannot load cluster credentials:")
    assert "pass --kubeconfig PATH (and --context NAME)" in (caught.value.hint or "")
    assert isinstance(caught.value.__cause__, ConfigException)


def test_unknown_context_is_a_config_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HOME", str(home_with_config(tmp_path)))
    with pytest.raises(ConfigError, match="cannot load cluster credentials") as caught:
        connect(context="nope")
    assert isinstance(caught.value.__cause__, ConfigException)


def test_in_cluster_without_its_service_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")  # no KUBERNETES_SERVICE_PORT
    with pytest.raises(ConfigError) as caught:
        connect()
    assert caught.value.source == "in-cluster"
    assert "cannot load cluster credentials: Service host/port is not set" in caught.value.message
    assert isinstance(caught.value.__cause__, ConfigException)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("apiVersion: v1\nclusters: [\n", "{path}:3: cannot load cluster credentials: not valid YAML"),
        ("just some text\n", "{path}: cannot load cluster credentials: not a valid kubeconfig (TypeError"),
        ("- a list\n", "{path}: cannot load cluster credentials: not a valid kubeconfig (TypeError"),
        (KUBECONFIG.replace("clusters:\n- name: local", "clusters: 5\nx:\n- name: local"), "not a valid kubeconfig"),
        (
            KUBECONFIG.replace("insecure-skip-tls-verify: true}", "certificate-authority-data: 'not base64!'}", 1),
            "not a valid",
        ),
    ],
)
def test_a_broken_kubeconfig_is_a_config_error_naming_it(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        connect(kubeconfig=str(path))
    assert says.format(path=path) in str(caught.value)


@pytest.mark.parametrize("server", ["not a url", "https://", "127.0.0.1:6443", "ftp://127.0.0.1:6443"])
def test_a_server_that_is_no_url_is_a_config_error(clean_env: pytest.MonkeyPatch, tmp_path: Path, server: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.replace("https://127.0.0.1:6443", server), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        connect(kubeconfig=str(path))
    assert caught.value.field == "clusters[].cluster.server"
    assert caught.value.hint == "write it as https://HOST:PORT"
