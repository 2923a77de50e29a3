"""The cloud load balancer in front of the public Service, as its Service tells it: pure decisions.

kube-proxy follows the EndpointSlices within a sync period; a cloud load balancer follows them later, by
its own health checks and deregistration delay. Which kind of load balancer serves a Service shows in
`spec.type`, `spec.loadBalancerClass`, `spec.externalTrafficPolicy` and the provider's annotations. From them
come how long a switch lets the load balancer settle before verify-prod, and how long scale-down waits
before the old role's pods stop. Only a cloud shows the effect; the decisions are tested as functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

AWS_LBC_CLASS = "service.k8s.aws/nlb"
AWS_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
AWS_INTERVAL = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"
AWS_HEALTHY = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-healthy-threshold"
AWS_TG_ATTRIBUTES = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
GKE_NEG = "cloud.google.com/neg"

#: AWS Load Balancer Controller defaults for an NLB target group: checks 10 s apart, 3 to become healthy;
#: Elastic Load Balancing's default deregistration delay is 300 s.
AWS_INTERVAL_S, AWS_HEALTHY_CHECKS, AWS_DEREGISTRATION_S = 10.0, 3, 300.0
#: GKE NEGs: the NEG controller attaches the new pods after the switch and the backend service health-checks
#: them before they get traffic; detaching the old ones takes as long again. Conservative: 30 s each.
GKE_NEG_SETTLE_S, GKE_NEG_DEREGISTRATION_S = 30.0, 30.0
#: externalTrafficPolicy Local: the load balancer health-checks each node's healthCheckNodePort; nodes that
#: only ran the old role fail it some checks later (AWS 10 s x 2-3, GCP and Azure 5-8 s x 2-3).
LOCAL_POLICY_SETTLE_S, LOCAL_POLICY_DEREGISTRATION_S = 30.0, 30.0


@dataclasses.dataclass(frozen=True)
class LoadBalancerProfile:
    kind: str  #: none | nodes | aws-nlb-ip | gke-neg | local-policy
    settle_s: float  #: how long after the endpoints follow until the load balancer sends only to the new role
    deregistration_s: float  #: how long the load balancer may still send to an old endpoint once it is gone
    why: str  #: what the Service showed, for the plan and the docs


def _spec(service: Mapping[str, Any]) -> Mapping[str, Any]:
    return service.get("spec") or {}


def _annotations(service: Mapping[str, Any]) -> Mapping[str, str]:
    return (service.get("metadata") or {}).get("annotations") or {}


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def aws_ip_targets(service: Mapping[str, Any]) -> bool:
    """The AWS Load Balancer Controller registers the pods themselves (IP mode) as the NLB's targets."""
    annotations = _annotations(service)
    if annotations.get(AWS_TYPE) == "nlb-ip":  # the controller's older spelling of IP mode
        return True
    managed = _spec(service).get("loadBalancerClass") == AWS_LBC_CLASS or annotations.get(AWS_TYPE) == "external"
    return managed and annotations.get(AWS_TARGET_TYPE) == "ip"


def _aws_deregistration(annotations: Mapping[str, str]) -> float:
    for attribute in (annotations.get(AWS_TG_ATTRIBUTES) or "").split(","):
        key, _, value = attribute.strip().partition("=")
        if key == "deregistration_delay.timeout_seconds":
            return _number(value, AWS_DEREGISTRATION_S)
    return AWS_DEREGISTRATION_S


def gke_neg(service: Mapping[str, Any]) -> bool:
    """GKE container-native load balancing: the pods are endpoints of network endpoint groups."""
    text = _annotations(service).get(GKE_NEG) or ""
    return '"ingress":true' in text.replace(" ", "") or "exposed_ports" in text


def local_traffic_policy(service: Mapping[str, Any]) -> bool:
    spec = _spec(service)
    return spec.get("type") in ("LoadBalancer", "NodePort") and spec.get("externalTrafficPolicy") == "Local"


def load_balancer_profile(service: Mapping[str, Any] | None) -> LoadBalancerProfile:
    """What the public Service's load balancer needs after a switch, judged from the Service alone."""
    if not service:
        return LoadBalancerProfile("none", 0.0, 0.0, "no public Service yet")
    annotations = _annotations(service)
    spec = _spec(service)
    if aws_ip_targets(service):
        interval = _number(annotations.get(AWS_INTERVAL), AWS_INTERVAL_S)
        checks = _number(annotations.get(AWS_HEALTHY), AWS_HEALTHY_CHECKS)
        return LoadBalancerProfile(
            "aws-nlb-ip",
            interval * checks,
            _aws_deregistration(annotations),
            f"AWS Load Balancer Controller in IP mode: new pods get traffic after {checks:.0f} health checks "
            f"{interval:.0f}s apart",
        )
    if gke_neg(service):
        return LoadBalancerProfile(
            "gke-neg",
            GKE_NEG_SETTLE_S,
            GKE_NEG_DEREGISTRATION_S,
            "GKE network endpoint groups: new pods get traffic once the NEG health check passes",
        )
    if local_traffic_policy(service):
        return LoadBalancerProfile(
            "local-policy",
            LOCAL_POLICY_SETTLE_S,
            LOCAL_POLICY_DEREGISTRATION_S,
            "externalTrafficPolicy Local: the load balancer drops nodes without new pods by its health checks",
        )
    if spec.get("type") == "LoadBalancer":
        known = spec.get("loadBalancerClass")
        return LoadBalancerProfile(
            "nodes",
            0.0,
            0.0,
            "the load balancer sends to the nodes"
            + (f" (class {known})" if known else "")
            + "; kube-proxy forwards by the EndpointSlices",
        )
    return LoadBalancerProfile("none", 0.0, 0.0, f"a {spec.get('type') or 'ClusterIP'} Service: no cloud load balancer")


def local_policy_problem(service: Mapping[str, Any] | None, name: str) -> str | None:
    """Why externalTrafficPolicy Local loses requests at a blue/green switch; None when it does not apply."""
    if not service or not local_traffic_policy(service) or aws_ip_targets(service):
        return None
    return (
        f"Service {name} has externalTrafficPolicy: Local: after a switch, nodes that only ran the old role's pods "
        "stay in the cloud load balancer until its health checks drop them (10-30s), and the requests it sends "
        "them are lost"
    )


def settle_seconds(profile: LoadBalancerProfile, configured: float | None) -> float:
    """How long switch waits once the endpoints followed: the setting, else what the load balancer needs."""
    return profile.settle_s if configured is None else configured


def scale_down_seconds(profile: LoadBalancerProfile, configured_delay: float, deregistration: float | None) -> float:
    """scale-down's delay: never shorter than the load balancer's deregistration delay (the setting, else the
    Service's), which it still sends old connections through."""
    return max(configured_delay, profile.deregistration_s if deregistration is None else deregistration)
