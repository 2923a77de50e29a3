"""Which endpoints the sandbox's service proxy sends a new connection to, as kube-proxy chooses them."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps_sandbox.proxy import Backend, backends_for

NET = 231


def endpoint(host: int, node: int = 1, **conditions: bool | None) -> dict[str, Any]:
    ep: dict[str, Any] = {"addresses": [f"10.{NET}.{node}.{host}"]}
    if conditions:
        ep["conditions"] = {k: v for k, v in conditions.items() if v is not None}
    return ep


def endpoint_slice(
    *endpoints: dict[str, Any],
    port_name: str = "http",
    port: int | None = 8080,
    protocol: str = "TCP",
    address_type: str = "IPv4",
) -> dict[str, Any]:
    return {
        "addressType": address_type,
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
        "endpoints": list(endpoints),
    }


def hosts(backends: list[Backend]) -> list[str]:
    return [b.host for b in backends]


def test_ready_endpoints_are_chosen_and_translated_to_their_loopback_twins() -> None:
    slices = [endpoint_slice(endpoint(3, ready=True), endpoint(2, node=2, ready=True))]

    backends = backends_for(slices, "http")

    assert backends == [Backend(f"127.{NET}.1.3", 8080), Backend(f"127.{NET}.2.2", 8080)]


def test_an_endpoint_without_a_ready_condition_counts_as_ready() -> None:
    slices = [endpoint_slice(endpoint(2), {"addresses": [f"10.{NET}.1.4"]})]

    assert hosts(backends_for(slices, "http")) == [f"127.{NET}.1.2", f"127.{NET}.1.4"]


def test_not_ready_endpoints_get_nothing_while_any_endpoint_is_ready() -> None:
    slices = [
        endpoint_slice(
            endpoint(2, ready=True),
            endpoint(3, ready=False),
            endpoint(4, ready=False, serving=True, terminating=True),
        )
    ]

    assert hosts(backends_for(slices, "http")) == [f"127.{NET}.1.2"]


def test_without_ready_endpoints_the_serving_terminating_ones_take_the_traffic() -> None:
    slices = [
        endpoint_slice(
            endpoint(2, ready=False, serving=True, terminating=True),
            endpoint(3, ready=False, serving=False, terminating=True),
            endpoint(4, ready=False, serving=True, terminating=False),
        )
    ]

    # Only serving AND terminating: a pod that merely failed its probe is not a fallback.
    assert hosts(backends_for(slices, "http")) == [f"127.{NET}.1.2"]


def test_no_candidates_at_all_gives_an_empty_list() -> None:
    slices = [endpoint_slice(endpoint(2, ready=False), endpoint(3, ready=False, serving=False, terminating=True))]

    assert backends_for(slices, "http") == []
    assert backends_for([], "http") == []


def test_endpoints_of_every_slice_of_the_service_are_merged() -> None:
    slices = [endpoint_slice(endpoint(5, ready=True)), endpoint_slice(endpoint(2, node=3, ready=True))]

    assert hosts(backends_for(slices, "http")) == [f"127.{NET}.1.5", f"127.{NET}.3.2"]


def test_the_port_comes_from_the_slice_port_of_that_name() -> None:
    slices = [
        endpoint_slice(endpoint(2, ready=True), port_name="http", port=8080),
        endpoint_slice(endpoint(3, ready=True), port_name="metrics", port=9090),
    ]

    assert backends_for(slices, "metrics") == [Backend(f"127.{NET}.1.3", 9090)]
    assert backends_for(slices, "grpc") == []


def test_an_unnamed_service_port_matches_an_unnamed_slice_port() -> None:
    unnamed = endpoint_slice(endpoint(2, ready=True))
    unnamed["ports"] = [{"port": 8080}]

    assert backends_for([unnamed], "") == [Backend(f"127.{NET}.1.2", 8080)]


@pytest.mark.parametrize(
    "slice_kwargs",
    [
        pytest.param({"protocol": "UDP"}, id="udp-port"),
        pytest.param({"port": None}, id="port-without-number"),
        pytest.param({"address_type": "IPv6"}, id="ipv6-slice"),
    ],
)
def test_slices_the_proxy_cannot_carry_are_skipped(slice_kwargs: dict[str, Any]) -> None:
    slices = [endpoint_slice(endpoint(2, ready=True), **slice_kwargs)]

    assert backends_for(slices, "http") == []


def test_addresses_outside_the_sandbox_pod_network_are_skipped() -> None:
    foreign = {"addresses": ["192.168.1.20"], "conditions": {"ready": True}}
    no_address: dict[str, Any] = {"addresses": [], "conditions": {"ready": True}}
    slices = [endpoint_slice(foreign, no_address, endpoint(2, ready=True))]

    assert hosts(backends_for(slices, "http")) == [f"127.{NET}.1.2"]
