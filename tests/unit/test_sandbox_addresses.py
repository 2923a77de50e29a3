"""The sandbox's address plan: virtual pod addresses for the API, loopback twins for the traffic."""

from __future__ import annotations

import ipaddress

import pytest

from pipeline_steps_sandbox.addresses import (
    NETWORK_OCTETS,
    kubernetes_service_ip,
    load_balancer_ip,
    network_claim_ip,
    pod_cidr,
    pod_virtual_ip,
    service_cidr,
    to_loopback,
)


def test_a_pod_address_and_its_loopback_twin_differ_only_in_the_first_octet() -> None:
    virtual = pod_virtual_ip(231, 2, 17)

    assert virtual == "10.231.2.17"
    assert to_loopback(virtual) == "127.231.2.17"


def test_every_pod_address_lies_in_its_nodes_pod_cidr() -> None:
    cidr = ipaddress.IPv4Network(pod_cidr(231, 3))

    assert all(ipaddress.IPv4Address(pod_virtual_ip(231, 3, host)) in cidr for host in (2, 100, 254))
    assert ipaddress.IPv4Address(pod_virtual_ip(231, 2, 5)) not in cidr


@pytest.mark.parametrize("address", ["192.168.4.2", "127.231.1.2", "11.231.1.2"])
def test_only_sandbox_pod_addresses_have_a_loopback_twin(address: str) -> None:
    with pytest.raises(ValueError, match="not a sandbox pod address"):
        to_loopback(address)


@pytest.mark.parametrize("address", ["10.231.1", "fd00::1", "pod-a"])
def test_what_is_not_an_ipv4_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        to_loopback(address)


def test_load_balancer_addresses_take_node_zero_of_the_network() -> None:
    assert load_balancer_ip(231, 1) == "127.231.0.1"
    assert load_balancer_ip(231, 254) == "127.231.0.254"


@pytest.mark.parametrize("index", [0, 255])
def test_there_is_room_for_254_load_balancers(index: int) -> None:
    with pytest.raises(ValueError, match="254 LoadBalancer"):
        load_balancer_ip(231, index)


def test_the_claim_address_is_in_the_network_but_never_a_pod_or_service_address() -> None:
    claim = network_claim_ip(231)
    pod_twins = {to_loopback(pod_virtual_ip(231, node, host)) for node in range(1, 10) for host in range(2, 255)}
    service_addresses = {load_balancer_ip(231, index) for index in range(1, 255)}

    assert claim.startswith("127.231.")
    assert claim not in pod_twins | service_addresses


def test_networks_stay_clear_of_the_usual_service_range() -> None:
    services = ipaddress.IPv4Network("10.96.0.0/12")

    assert all(not ipaddress.IPv4Network(pod_cidr(net, 1)).overlaps(services) for net in NETWORK_OCTETS)


def test_each_sandbox_has_its_own_service_range_inside_its_guarded_network() -> None:
    ranges = [ipaddress.IPv4Network(service_cidr(net)) for net in NETWORK_OCTETS]
    pods = [ipaddress.IPv4Network(pod_cidr(net, node)) for net in NETWORK_OCTETS for node in range(1, 10)]

    pairs = list(zip(NETWORK_OCTETS, ranges, strict=True))
    assert all(r.subnet_of(ipaddress.IPv4Network(f"10.{net}.0.0/16")) for net, r in pairs)
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    assert not any(r.overlaps(p) for r in ranges for p in pods)
    assert all(ipaddress.IPv4Address(kubernetes_service_ip(net)) in r for net, r in pairs)
