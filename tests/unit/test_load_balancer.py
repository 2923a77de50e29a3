"""What the public Service says of the cloud load balancer in front of it: how long a switch lets it settle,
how long scale-down waits, and whether externalTrafficPolicy Local loses requests. Only a cloud shows the
effect; these are the decisions."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps.strategies.bluegreen.load_balancer import (
    AWS_DEREGISTRATION_S,
    load_balancer_profile,
    local_policy_problem,
    scale_down_seconds,
    settle_seconds,
)


def service(
    kind: str = "LoadBalancer",
    *,
    policy: str | None = None,
    lb_class: str | None = None,
    **annotations: str,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "selector": {"app": "web", "role": "blue"}}
    if policy:
        spec["externalTrafficPolicy"] = policy
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    return {"metadata": {"name": "web", "annotations": annotations}, "spec": spec}


AWS = "service.beta.kubernetes.io/aws-load-balancer-"


def aws_ip(**more: str) -> dict[str, Any]:
    return service(lb_class="service.k8s.aws/nlb", **{AWS + "nlb-target-type": "ip"}, **more)


def test_a_load_balancer_that_sends_to_the_nodes_needs_no_settle_time() -> None:
    # AKS, EKS in instance mode, GKE without NEGs, kind's cloud-provider-kind, MetalLB, the sandbox.
    for found in (service(), service(policy="Cluster"), service(lb_class="example.com/lb"), service("ClusterIP")):
        profile = load_balancer_profile(found)
        assert (profile.settle_s, profile.deregistration_s) == (0.0, 0.0), profile
    assert load_balancer_profile(None).kind == "none"
    assert "class example.com/lb" in load_balancer_profile(service(lb_class="example.com/lb")).why


def test_aws_load_balancer_controller_ip_targets_wait_for_health_checks_and_deregistration() -> None:
    profile = load_balancer_profile(aws_ip())
    assert profile.kind == "aws-nlb-ip"
    assert profile.settle_s == 30.0  # 3 checks, 10 s apart: the controller's defaults
    assert profile.deregistration_s == AWS_DEREGISTRATION_S == 300.0


def test_aws_ip_targets_read_from_the_services_annotations() -> None:
    profile = load_balancer_profile(
        aws_ip(
            **{
                AWS + "healthcheck-interval": "5",
                AWS + "healthcheck-healthy-threshold": "2",
                AWS + "target-group-attributes": "stickiness.enabled=true, deregistration_delay.timeout_seconds=45",
            }
        )
    )
    assert (profile.settle_s, profile.deregistration_s) == (10.0, 45.0)


def test_aws_ip_mode_spelled_the_older_ways() -> None:
    assert load_balancer_profile(service(**{AWS + "type": "nlb-ip"})).kind == "aws-nlb-ip"
    assert load_balancer_profile(service(**{AWS + "type": "external", AWS + "nlb-target-type": "ip"})).kind == (
        "aws-nlb-ip"
    )
    # Instance mode: the NLB sends to the nodes, kube-proxy forwards.
    assert load_balancer_profile(service(**{AWS + "type": "external", AWS + "nlb-target-type": "instance"})).kind == (
        "nodes"
    )


def test_gke_negs_even_behind_a_cluster_ip_service() -> None:
    for text in ('{"ingress": true}', '{"exposed_ports": {"80": {}}}'):
        profile = load_balancer_profile(service("ClusterIP", **{"cloud.google.com/neg": text}))
        assert profile.kind == "gke-neg"
        assert profile.settle_s > 0 and profile.deregistration_s > 0


def test_local_traffic_policy_needs_settle_time_and_is_a_problem_for_blue_green() -> None:
    local = service(policy="Local")
    assert load_balancer_profile(local).kind == "local-policy"
    problem = local_policy_problem(local, "web")
    assert problem and "externalTrafficPolicy: Local" in problem and "health checks" in problem
    assert local_policy_problem(service("NodePort", policy="Local"), "web")
    assert local_policy_problem(service(policy="Cluster"), "web") is None
    assert local_policy_problem(None, "web") is None
    # IP targets bypass the nodes: the policy does not route their traffic.
    assert (
        local_policy_problem(aws_ip() | {"spec": {**aws_ip()["spec"], "externalTrafficPolicy": "Local"}}, "web") is None
    )


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(None, 30.0), (0.0, 0.0), (12.0, 12.0)],
)
def test_settle_is_the_setting_else_the_load_balancers(configured: float | None, expected: float) -> None:
    assert settle_seconds(load_balancer_profile(aws_ip()), configured) == expected


def test_scale_down_waits_at_least_the_deregistration_delay() -> None:
    aws = load_balancer_profile(aws_ip())
    nodes = load_balancer_profile(service())
    assert scale_down_seconds(nodes, 30.0, None) == 30.0  # post_clean.scale_down_delay as configured
    assert scale_down_seconds(aws, 30.0, None) == 300.0  # raised to the target group's delay
    assert scale_down_seconds(aws, 600.0, None) == 600.0  # never lowered
    assert scale_down_seconds(aws, 30.0, 60.0) == 60.0  # the setting wins over what the Service says
    assert scale_down_seconds(nodes, 30.0, 90.0) == 90.0
