"""API versions that current clusters no longer serve and that are not converted automatically.

From the Kubernetes deprecated API migration guide. The apps workloads (Deployment, DaemonSet, ReplicaSet,
StatefulSet) and Ingress are handled in `legacy`; everything here is an error naming the replacement.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RemovedApi:
    replacement: str | None  #: the apiVersion to use; None when the kind itself is gone
    removed_in: str  #: the Kubernetes release that stopped serving it
    changes: str = ""  #: what besides apiVersion must change; empty when nothing does


_PSP_GONE = (
    "PodSecurityPolicy was removed in Kubernetes 1.25 without a replacement kind: delete this manifest and "
    "label the namespace for Pod Security Admission (pod-security.kubernetes.io/enforce: baseline|restricted)"
)
_HPA_V2BETA1 = (
    "in spec.metrics, `targetAverageUtilization: N` becomes `target: {type: Utilization, averageUtilization: N}`, "
    "`targetAverageValue: X` becomes `target: {type: AverageValue, averageValue: X}`, `targetValue: X` becomes "
    "`target: {type: Value, value: X}`, `metricName`/`selector` become `metric: {name, selector}`, and an Object "
    "metric's `target` reference becomes `describedObject`"
)
_CRD = (
    "spec.scope is required; spec.version, spec.validation, spec.subresources and spec.additionalPrinterColumns "
    "move into each spec.versions[*] entry, whose schema.openAPIV3Schema is required and must be structural"
)
_WEBHOOKS = (
    "each webhook needs sideEffects (None or NoneOnDryRun) and admissionReviewVersions; failurePolicy now "
    "defaults to Fail and timeoutSeconds to 10"
)


def _same(
    group: str, kinds: tuple[str, ...], replacement: str, removed_in: str, changes: str = ""
) -> dict[tuple[str, str], RemovedApi]:
    return {(group, kind): RemovedApi(replacement, removed_in, changes) for kind in kinds}


REMOVED_APIS: dict[tuple[str, str], RemovedApi] = {
    # Kubernetes 1.16
    ("extensions/v1beta1", "NetworkPolicy"): RemovedApi("networking.k8s.io/v1", "1.16"),
    ("extensions/v1beta1", "PodSecurityPolicy"): RemovedApi(None, "1.16", _PSP_GONE),
    **_same("apps/v1beta1", ("ControllerRevision",), "apps/v1", "1.16"),
    **_same("apps/v1beta2", ("ControllerRevision",), "apps/v1", "1.16"),
    # Kubernetes 1.22
    ("networking.k8s.io/v1beta1", "IngressClass"): RemovedApi("networking.k8s.io/v1", "1.22"),
    **_same(
        "rbac.authorization.k8s.io/v1beta1",
        ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
        "rbac.authorization.k8s.io/v1",
        "1.22",
    ),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"): RemovedApi("scheduling.k8s.io/v1", "1.22"),
    **_same(
        "storage.k8s.io/v1beta1",
        ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"),
        "storage.k8s.io/v1",
        "1.22",
    ),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"): RemovedApi("apiextensions.k8s.io/v1", "1.22", _CRD),
    **_same(
        "admissionregistration.k8s.io/v1beta1",
        ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
        "admissionregistration.k8s.io/v1",
        "1.22",
        _WEBHOOKS,
    ),
    ("apiregistration.k8s.io/v1beta1", "APIService"): RemovedApi("apiregistration.k8s.io/v1", "1.22"),
    ("coordination.k8s.io/v1beta1", "Lease"): RemovedApi("coordination.k8s.io/v1", "1.22"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"): RemovedApi(
        "certificates.k8s.io/v1", "1.22", "spec.signerName and spec.usages are required"
    ),
    # Kubernetes 1.25
    ("batch/v1beta1", "CronJob"): RemovedApi("batch/v1", "1.25"),
    ("policy/v1beta1", "PodDisruptionBudget"): RemovedApi(
        "policy/v1", "1.25", "an empty spec.selector ({}) now selects every pod of the namespace (it selected none)"
    ),
    ("policy/v1beta1", "PodSecurityPolicy"): RemovedApi(None, "1.25", _PSP_GONE),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): RemovedApi("autoscaling/v2", "1.25", _HPA_V2BETA1),
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): RemovedApi(
        "discovery.k8s.io/v1", "1.25", "each endpoint's topology becomes its nodeName and zone fields"
    ),
    ("events.k8s.io/v1beta1", "Event"): RemovedApi("events.k8s.io/v1", "1.25"),
    ("node.k8s.io/v1beta1", "RuntimeClass"): RemovedApi("node.k8s.io/v1", "1.25"),
    # Kubernetes 1.26 and later
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): RemovedApi("autoscaling/v2", "1.26"),
    **_same(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        ("FlowSchema", "PriorityLevelConfiguration"),
        "flowcontrol.apiserver.k8s.io/v1",
        "1.26",
    ),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): RemovedApi("storage.k8s.io/v1", "1.27"),
    **_same(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        ("FlowSchema", "PriorityLevelConfiguration"),
        "flowcontrol.apiserver.k8s.io/v1",
        "1.29",
    ),
    **_same(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        ("FlowSchema", "PriorityLevelConfiguration"),
        "flowcontrol.apiserver.k8s.io/v1",
        "1.32",
    ),
}
