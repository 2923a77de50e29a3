"""How verify reaches a Service: the setting (`access.staged`, `access.prod`), the default by Service type, the
URL each mode gives, the load balancer's timeout and name resolution, the permissions `rbac` prints, and the
cluster credentials sent to the apiserver only."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from pipeline_steps.checks import HttpCheckSpec
from pipeline_steps.checks import access as decide
from pipeline_steps.checks.http_check import target_url
from pipeline_steps.cli import main
from pipeline_steps.config import Attempts, load_config
from pipeline_steps.config.access import LOADBALANCER_TIMEOUT_S, StageAccess
from pipeline_steps.errors import ConfigError
from pipeline_steps.kube.service_access import apiserver_session
from pipeline_steps.strategies.service_access import needs_endpoint

REPO = Path(__file__).resolve().parents[2]
MINIMAL = "app: web\nmanifests: [k8s/*.yaml]\n"
WHERE = decide.Where("pipeline.yaml", "staged")


def service(kind: str | None = "ClusterIP", ports: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": ports if ports is not None else [{"name": "http", "port": 80}]}
    if kind:
        spec["type"] = kind
    return {"metadata": {"name": "web-test"}, "spec": spec, "status": status}


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "pipeline.yaml"
    path.write_text(MINIMAL + text, encoding="utf-8")
    return load_config(path, {})


def problem(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value


# -- the setting ------------------------------------------------------------------------------------------


def test_without_a_setting_the_service_type_decides_and_the_load_balancer_wait_is_ten_minutes(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.access.staged.chosen_mode is None and config.access.prod.chosen_mode is None
    assert config.access.prod.loadbalancer_timeout_s == LOADBALANCER_TIMEOUT_S == 600.0


def test_each_stage_has_its_own_mode_and_timeout(tmp_path: Path) -> None:
    config = load(
        tmp_path, "access:\n  staged: {mode: port-forward, port: http}\n  prod: {loadbalancer_timeout: 15m}\n"
    )
    assert (config.access.staged.chosen_mode, config.access.staged.port) == ("port-forward", "http")
    assert (config.access.prod.chosen_mode, config.access.prod.loadbalancer_timeout_s) == (None, 900.0)


def test_a_url_alone_means_mode_url_and_an_empty_mode_means_unset(tmp_path: Path) -> None:
    config = load(tmp_path, 'access:\n  prod: {mode: "", url: "https://shop.example.com"}\n')
    assert config.access.prod.chosen_mode == "url"
    assert config.access.prod.url == "https://shop.example.com"


def test_an_unknown_mode_lists_the_choices(tmp_path: Path) -> None:
    found = problem(tmp_path, "access:\n  staged: {mode: ingress}\n")
    assert found.field == "access.staged.mode"
    assert "choose one of: loadbalancer, url, apiserver-proxy, port-forward, cluster-dns" in str(found)


def test_mode_url_needs_a_url_and_a_url_needs_mode_url(tmp_path: Path) -> None:
    missing = problem(tmp_path, "access:\n  prod: {mode: url}\n")
    assert missing.field == "access.prod.url" and "is required with `mode: url`" in str(missing)
    unused = problem(tmp_path, "access:\n  prod: {mode: apiserver-proxy, url: 'http://x'}\n")
    assert unused.field == "access.prod.url" and "is not used with `mode: apiserver-proxy`" in str(unused)
    assert unused.hint == "remove `url`, or set `mode: url`"


# -- the mode, decided --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("LoadBalancer", "loadbalancer"),
        ("ClusterIP", "apiserver-proxy"),
        ("NodePort", "apiserver-proxy"),
        (None, "apiserver-proxy"),
    ],
)
def test_the_service_type_decides_the_default(kind: str | None, mode: str) -> None:
    assert decide.decide_mode(StageAccess(), service(kind), "web-test", WHERE) == mode


def test_a_set_mode_wins_over_the_service_type() -> None:
    chosen = StageAccess(mode="port-forward")
    assert decide.decide_mode(chosen, service("LoadBalancer"), "web-test", WHERE) == "port-forward"
    assert decide.decide_mode(StageAccess(url="http://x"), None, None, WHERE) == "url"


def test_a_load_balancer_asked_of_a_clusterip_names_the_setting_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        decide.decide_mode(StageAccess(mode="loadbalancer"), service("ClusterIP"), "web-test", WHERE)
    assert caught.value.field == "access.staged.mode" and caught.value.source == "pipeline.yaml"
    assert "Service web-test is of type ClusterIP: it never gets a load balancer address" in str(caught.value)
    assert "mode: apiserver-proxy" in (caught.value.hint or "")


def test_an_external_name_or_a_missing_service_needs_a_url() -> None:
    with pytest.raises(ConfigError) as external:
        decide.decide_mode(StageAccess(), service("ExternalName"), "web-test", WHERE)
    assert "give the address the checks should use as `url:`" in str(external.value)
    with pytest.raises(ConfigError) as missing:
        decide.decide_mode(StageAccess(), None, "web-test", WHERE)
    assert "Service web-test is not in the cluster" in str(missing.value)


# -- ports and URLs --------------------------------------------------------------------------------------


def test_the_port_is_the_first_one_or_the_one_named_or_numbered() -> None:
    ports = [{"name": "http", "port": 80}, {"name": "admin", "port": 9090}]
    assert decide.service_port(service(ports=ports), None, WHERE)["port"] == 80
    assert decide.service_port(service(ports=ports), "admin", WHERE)["port"] == 9090
    assert decide.service_port(service(ports=ports), "9090", WHERE)["name"] == "admin"
    with pytest.raises(ConfigError) as caught:
        decide.service_port(service(ports=ports), "grpc", WHERE)
    assert caught.value.field == "access.staged.port" and "its ports: http, admin" in str(caught.value)


def test_the_apiserver_proxy_url_names_the_port_by_name_or_else_by_number() -> None:
    named = decide.proxy_base_url("https://api.example:6443/", "shop", "web-test", {"name": "http", "port": 80})
    assert named == "https://api.example:6443/api/v1/namespaces/shop/services/web-test:http/proxy"
    unnamed = decide.proxy_base_url("https://api.example:6443", "shop", "web-test", {"port": 8080})
    assert unnamed.endswith("/services/web-test:8080/proxy")
    check = HttpCheckSpec("home", Attempts(), path="/healthz")
    assert target_url(check, named) == named + "/healthz"


def test_cluster_dns_and_load_balancer_urls() -> None:
    assert decide.cluster_dns_base_url("web-test", "shop", {"port": 80}) == "http://web-test.shop.svc:80"
    assert decide.loadbalancer_base_url("203.0.113.7", {"port": 80}) == "http://203.0.113.7:80"
    assert decide.loadbalancer_base_url("2001:db8::1", {"port": 80}) == "http://[2001:db8::1]:80"


def test_the_load_balancer_address_is_its_ip_or_a_hostname_that_must_resolve() -> None:
    assert decide.loadbalancer_host(service(loadBalancer={"ingress": [{"ip": "10.1.0.5"}]})) == ("10.1.0.5", False)
    aws = service(loadBalancer={"ingress": [{"hostname": "a1b2.elb.amazonaws.com"}]})
    assert decide.loadbalancer_host(aws) == ("a1b2.elb.amazonaws.com", True)
    assert decide.loadbalancer_host(service(loadBalancer={})) is None
    assert decide.loadbalancer_host(None) is None


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_load_balancer_hostname_is_waited_for_until_it_resolves() -> None:
    fake, asked = FakeTime(), []

    def resolves(host: str) -> bool:
        asked.append(host)
        return len(asked) == 4

    assert decide.wait_until_resolves("lb.example", 600, resolves=resolves, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == [5.0, 5.0, 5.0]


def test_a_hostname_that_never_resolves_gives_up_at_the_timeout() -> None:
    fake = FakeTime()
    found = decide.wait_until_resolves("lb.example", 12, resolves=lambda _: False, clock=fake.clock, sleep=fake.sleep)
    assert not found and fake.sleeps == [5.0, 5.0, 2.0]


def test_a_port_forward_goes_to_a_ready_pod_at_the_target_port_of_the_service_port() -> None:
    slices = [
        {
            "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
            "endpoints": [
                {"targetRef": {"kind": "Pod", "name": "web-1"}, "conditions": {"ready": False}},
                {"targetRef": {"kind": "Pod", "name": "web-2"}, "conditions": {"ready": True}},
            ],
        }
    ]
    assert decide.ready_pod(slices, {"name": "http", "port": 80}) == ("web-2", 8080)
    assert decide.ready_pod(slices, {"name": "admin", "port": 90}) == ("web-2", 9000)
    assert decide.ready_pod(slices, {"name": "grpc", "port": 81}) is None
    assert decide.ready_pod([{**slices[0], "endpoints": slices[0]["endpoints"][:1]}], {"name": "http"}) is None


def test_checks_that_never_use_the_base_url_need_no_endpoint() -> None:
    absolute = HttpCheckSpec("cdn", Attempts(), url="https://cdn.example/health")
    assert not needs_endpoint([absolute])
    assert needs_endpoint([absolute, HttpCheckSpec("home", Attempts(), path="/")])
    assert needs_endpoint([HttpCheckSpec("templated", Attempts(), url="{base_url}/x")])


# -- permissions ------------------------------------------------------------------------------------------


def rbac_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str], example: str, extra: str = "") -> list[Any]:
    """The Role `pipeline-steps rbac` prints for a copy of an example, with `extra` settings appended."""
    workspace = tmp_path / example
    shutil.copytree(REPO / "examples" / example, workspace)
    config = workspace / "pipeline.yaml"
    config.write_text(config.read_text() + extra)
    assert main(["rbac", "-c", str(config), "--set", "IMAGE=tomcat:9.0.98"]) == 0
    role = next(doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc["kind"] == "Role")
    return list(role["rules"])


def test_rbac_grants_the_apiserver_proxy_when_a_checked_service_is_a_clusterip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rbac_rules(tmp_path, capsys, "tomcat-bluegreen")
    assert {"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]} in rules
    assert not any(r["resources"] == ["pods/portforward"] for r in rules)


def test_rbac_grants_a_port_forward_when_a_stage_uses_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = rbac_rules(tmp_path, capsys, "tomcat-bluegreen", "access:\n  staged: {mode: port-forward}\n")
    assert {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get", "create"]} in rules


def test_rbac_grants_neither_when_every_checked_service_has_a_load_balancer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rbac_rules(tmp_path, capsys, "tomcat-rolling")
    assert not any(r["resources"] in (["services/proxy"], ["pods/portforward"]) for r in rules)


# -- credentials ------------------------------------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def two_servers() -> Iterator[tuple[str, str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    first, second = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    yield first, second, seen
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_cluster_token_goes_to_the_apiserver_and_nowhere_else(
    two_servers: tuple[str, str, list[tuple[str, str | None]]],
) -> None:
    apiserver, other, seen = two_servers
    configuration = client.Configuration(host=apiserver, api_key={"authorization": "token-of-ci"})
    configuration.api_key_prefix = {"authorization": "Bearer"}
    session = apiserver_session(client.ApiClient(configuration))
    proxied = decide.proxy_base_url(apiserver, "shop", "web-test", {"name": "http", "port": 80}) + "/healthz"
    assert session.get(proxied, timeout=5).status_code == 200
    assert session.get(other + "/elsewhere", timeout=5).status_code == 200
    assert seen == [
        ("/api/v1/namespaces/shop/services/web-test:http/proxy/healthz", "Bearer token-of-ci"),
        ("/elsewhere", None),
    ]
