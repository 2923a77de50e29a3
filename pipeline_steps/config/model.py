"""pipeline.yaml as one typed, immutable model. Every field is documented where it is declared; the
descriptions are what an editor shows from the JSON Schema (`pipeline-steps schema`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, WithJsonSchema, model_validator
from pydantic.json_schema import JsonSchemaValue

from pipeline_steps.config.access import AccessSettings
from pipeline_steps.config.checks import Checks, CheckSpec, specs
from pipeline_steps.config.fields import (
    NAMESPACE_HINT,
    TEMPLATED,
    VARIABLE_REF,
    Duration,
    Flag,
    MaybeText,
    Names,
    Section,
    Text,
    dns_label,
    names,
    one_of,
    parse_duration,
    problem,
)
from pipeline_steps.config.mail import MailSettings

Strategy = Literal["bluegreen", "rolling"]
ConfirmMode = Literal["auto", "prompt", "jenkins", "github", "wait"]
PostCleanPolicy = Literal["keep", "hot-backup", "scale-down"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
CONFIRM_MODES: tuple[str, ...] = get_args(ConfirmMode)
POST_CLEAN_POLICIES: tuple[str, ...] = get_args(PostCleanPolicy)
MANIFESTS_HINT = "list the manifest files or globs, e.g. [k8s/*.yaml]"
_DNS_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _label_schema(longest: int) -> JsonSchemaValue:
    label = {"type": "string", "pattern": _DNS_PATTERN, "maxLength": longest}
    return {"anyOf": [label, {"type": "integer", "minimum": 0}, VARIABLE_REF]}


def _build(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise problem(f"must be a mapping (builder, context, containerfile...), not {type(value).__name__}")
    return value


def _some_manifests(manifests: tuple[str, ...]) -> tuple[str, ...]:
    if not manifests:
        raise problem("is required", MANIFESTS_HINT)
    return manifests


def _kind_slash_names(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        kind, _, name = item.partition("/")
        if not kind or not name:
            raise problem(f"{item!r} is not Kind/name", "e.g. ConfigMap/app-settings")
    return value


def _two_roles(value: Any) -> tuple[str, str]:
    roles = names(value)
    if len(roles) != 2 or roles[0] == roles[1]:
        raise problem(f"must be two different values, got {list(roles)}", "e.g. [blue, green]")
    return roles[0], roles[1]


class ImageSettings(Section):
    """The image to release: a prebuilt reference, or one to build and push first."""

    reference: MaybeText = Field(
        default=None,
        description="The image to release: a prebuilt reference. `--image` overrides it; without either, the value "
        "of the `variable` below in the environment (so `IMAGE=... pipeline-steps run` works as it reads).",
    )
    variable: Text = Field(
        default="IMAGE",
        description="The variable the manifests use for the image; the runner sets it to the resolved "
        "`repo@sha256:...`.",
    )
    resolve_digest: Flag = Field(
        default=True,
        description="Resolve the tag to a digest from the registry and deploy by digest (recommended: tags move).",
    )
    tls_verify: Flag = Field(
        default=True,
        description="Verify the registry's TLS certificate when resolving (false for a plain-HTTP local registry).",
    )
    build: Annotated[dict[str, Any] | None, BeforeValidator(_build)] = Field(
        default=None,
        description="Build and push the image first: builder (buildah | podman | docker | command), context, "
        "containerfile, tag, build_args, push, tls_verify, extra_args, command, storage_driver, isolation. "
        "Without it the reference is taken as built.",
    )


class BlueGreenSettings(Section):
    """Blue/green: two Deployments told apart by a pod label; the public Service selects one of them."""

    role_label: Text = Field(
        default="role", description="The pod label that tells the two roles apart; the public Service selects on it."
    )
    roles: Annotated[
        tuple[str, str],
        BeforeValidator(_two_roles),
        WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}),
    ] = Field(
        default=("blue", "green"),
        description="The two roles' values of that label. The first one is used for a first release.",
    )
    public_service: Text = Field(
        default="",
        description="The Service that carries public traffic (default: the app's name). Test Services are the "
        "other Services of the manifests.",
    )
    shared: Annotated[Names, AfterValidator(_kind_slash_names)] = Field(
        default=(),
        description="Objects of the manifests that both roles share, as Kind/name (e.g. ConfigMap/app-settings). "
        "Every other object must have the role in its name: deploying the idle role re-applies a shared object, "
        "which changes it for the public role's running pods before verify and confirm.",
    )


class RollingSettings(Section):
    """Rolling update: one Deployment, rolled by the deployment controller."""

    public_service: Text = Field(
        default="",
        description="The Service that carries public traffic (default: the app's name); verify-prod tests through it.",
    )


class VerifySettings(Section):
    """Checks against the staged role's test address and the public address."""

    staged: Checks = Field(default=(), description="Checks through the idle role's test Service, before confirm.")
    prod: Checks = Field(
        default=(), description="Checks through the public Service after switch; a failure switches back."
    )


class ConfirmSettings(Section):
    """The gate between verify-staged and switch, where a person decides."""

    mode: Annotated[ConfirmMode, one_of(CONFIRM_MODES), TEMPLATED] = Field(
        default="prompt",
        description="auto: no gate; prompt: ask on the terminal; jenkins/github: the CI's own gate decides after "
        "this step; wait: wait until `pipeline-steps approve|reject` records a decision on the cluster.",
    )
    timeout_s: Duration = Field(
        default=1800.0, alias="timeout", description="How long `wait` and `prompt` wait for a decision (e.g. 30m)."
    )
    on_timeout: Annotated[Literal["reject", "approve"], one_of(("reject", "approve")), TEMPLATED] = Field(
        default="reject", description="What a timeout means."
    )
    approvers: Names = Field(
        default=(), description="Who may approve (empty: anyone who can write the approval record)."
    )
    mail: MailSettings | None = Field(default=None, description="E-mail the approvers; without it, no e-mail.")


class PostCleanSettings(Section):
    """What becomes of the role that is no longer public."""

    policy: Annotated[PostCleanPolicy, one_of(POST_CLEAN_POLICIES), TEMPLATED] = Field(
        default="keep",
        description="keep: leave the old role as it is, for instant rollback; hot-backup: update it to the new "
        "release too; scale-down: scale it to zero after `scale_down_delay`.",
    )
    scale_down_delay_s: Duration = Field(
        default=30.0,
        alias="scale_down_delay",
        description="How long scale-down waits after the switch before it scales the old role to zero: longer "
        "than the proxies (kube-proxy's sync, a cloud load balancer's deregistration delay) take to stop sending "
        "it traffic, plus the pods' drain. Default 30s.",
    )


class DrainSettings(Section):
    """How pods that stop serving (a rolling update, scale-down) finish what they were sent.

    Endpoint removal and SIGTERM race on every cluster: proxies go on sending a terminating pod requests for
    a moment. A preStop sleep keeps the pod serving through that moment."""

    pre_stop_sleep_s: Duration = Field(
        default=5.0,
        alias="pre_stop_sleep",
        description="Adds `lifecycle.preStop.sleep` of this length to each served container (one with ports) "
        "that has no preStop hook, visible in the plan's diff. 0 adds none.",
    )
    accept_lost_requests: Flag = Field(
        default=False,
        description="Release even when a served container has no preStop hook (or a grace period shorter than "
        "it) and none is added: requests in flight when its pods stop are lost.",
    )


class Timeouts(Section):
    """How long the steps wait for the cluster."""

    rollout_s: Duration = Field(
        default=600.0,
        alias="rollout",
        description="How long deploy waits for a rollout to complete before it fails (rolling: and undoes it).",
    )
    switch_s: Duration = Field(
        default=120.0,
        alias="switch",
        description="How long switch waits for the public Service's endpoints to list only the new role.",
    )


LocalTrafficPolicy = Literal["warn", "refuse"]
LOCAL_TRAFFIC_POLICIES: tuple[str, ...] = get_args(LocalTrafficPolicy)


def _maybe_duration(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == "auto"):
        return None
    return parse_duration(value)


_MAYBE_DURATION_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*(auto|\d+(?:\.\d+)?\s*(ms|s|m|h)?)\s*$"},
        {"type": "null"},
        VARIABLE_REF,
    ]
}
MaybeDuration = Annotated[float | None, BeforeValidator(_maybe_duration), WithJsonSchema(_MAYBE_DURATION_SCHEMA)]


class LoadBalancerSettings(Section):
    """The cloud load balancer in front of the public Service (blue/green). It follows the Service's endpoints
    later than kube-proxy does, by its own health checks and deregistration delay; `auto` (the default) reads
    which load balancer it is from the Service: see docs/real-clusters/load-balancers.md."""

    local_traffic_policy: Annotated[LocalTrafficPolicy, one_of(LOCAL_TRAFFIC_POLICIES), TEMPLATED] = Field(
        default="warn",
        description="A public Service with externalTrafficPolicy: Local loses requests at each switch (nodes that "
        "only ran the old role stay in the load balancer until its health checks drop them): warn, or refuse.",
    )
    settle_s: MaybeDuration = Field(
        default=None,
        alias="settle",
        description="How long switch waits, once the endpoints list only the new role, before verify-prod checks "
        "the public address. auto: from the Service: 0 for a load balancer that sends to the nodes, the health "
        "checks' interval x healthy threshold for AWS Load Balancer Controller IP targets (30s by default), 30s for "
        "GKE NEGs and for externalTrafficPolicy Local.",
    )
    deregistration_delay_s: MaybeDuration = Field(
        default=None,
        alias="deregistration_delay",
        description="How long the load balancer still sends to a removed endpoint; scale-down waits at least this "
        "long (post_clean.scale_down_delay is raised to it). auto: from the Service: 0 for a load balancer that "
        "sends to the nodes, the target group's deregistration_delay.timeout_seconds for AWS IP targets (300s by "
        "default), 30s for GKE NEGs and for externalTrafficPolicy Local.",
    )


# -- apply and capacity (autoscaling): who owns which field, and capacity before a switch ----------------


class ApplySettings(Section):
    """How the manifests are applied (server-side apply, as field manager `pipeline-steps`).

    A Deployment that a HorizontalPodAutoscaler scales (one in the manifests or in the cluster) is applied
    without `spec.replicas`, whatever the manifest says: the autoscaler owns that field, and the plan says so."""

    force_conflicts: Flag = Field(
        default=False,
        description="Take over fields that another field manager (kubectl edit, a controller, another tool) set "
        "to other values. Default false: such an apply stops and names the managers and fields.",
    )


class CapacitySettings(Section):
    """Capacity of the role a blue/green switch makes public."""

    match_active: Flag = Field(
        default=True,
        description="Before switching, bring the target role to at least the active role's available replicas "
        "(its HPA's minReplicas raised for the switch and given back after) and wait until they are available.",
    )


class Config(Section):
    """pipeline.yaml: one app's release, validated and immutable.

    The file takes `${VAR}` substitution from the environment (plus `--set`) before it is read, like the
    manifests, so one file serves every environment. Flags and PIPELINE_STEPS_* variables override it.
    """

    missing_hints: ClassVar[dict[str, str]] = {"manifests": MANIFESTS_HINT}

    app: Annotated[
        str,
        dns_label("not a DNS label", 50, "lower-case letters, digits and '-', at most 50"),
        WithJsonSchema(_label_schema(50)),
    ] = Field(description="The app's name: names the state file, the lock and the annotations. A DNS label.")
    namespace: Annotated[
        str, dns_label("not a valid namespace name", 63, NAMESPACE_HINT), WithJsonSchema(_label_schema(63))
    ] = Field(default="default", description="The namespace released into (`--namespace` overrides it).")
    strategy: Annotated[Strategy, one_of(STRATEGIES), TEMPLATED] = Field(
        default="bluegreen", description="bluegreen: two roles and a switch; rolling: the deployment controller."
    )
    manifests: Annotated[Names, AfterValidator(_some_manifests)] = Field(
        description="Manifest paths or globs, relative to this file's directory; multi-document YAML."
    )
    image: ImageSettings = Field(default_factory=ImageSettings)
    bluegreen: BlueGreenSettings = Field(default_factory=BlueGreenSettings)
    rolling: RollingSettings = Field(default_factory=RollingSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    access: AccessSettings = Field(
        default_factory=AccessSettings, description="How verify reaches the Services it checks, per stage."
    )
    confirm: ConfirmSettings = Field(default_factory=ConfirmSettings)
    post_clean: PostCleanSettings = Field(default_factory=PostCleanSettings)
    drain: DrainSettings = Field(default_factory=DrainSettings)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    load_balancer: LoadBalancerSettings = Field(default_factory=LoadBalancerSettings)
    allow_missing_readiness: Flag = Field(
        default=False,
        description="Blue/green requires readiness probes (traffic would reach pods that are not ready); allow "
        "Deployments without one anyway.",
    )
    apply: ApplySettings = Field(default_factory=ApplySettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)

    _path: Path = PrivateAttr(default=Path("pipeline.yaml"))
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _public_service_defaults_to_the_app(self) -> Config:
        changes: dict[str, Any] = {}
        if not self.bluegreen.public_service:
            changes["bluegreen"] = self.bluegreen.model_copy(update={"public_service": self.app})
        if not self.rolling.public_service:
            changes["rolling"] = self.rolling.model_copy(update={"public_service": self.app})
        return self.model_copy(update=changes) if changes else self

    def bound(self, path: Path, variables: dict[str, str]) -> Config:
        """This config, read from `path` with `variables` (environment + --set)."""
        config = self.model_copy()
        config._path = path
        config._variables = dict(variables)
        return config

    @property
    def path(self) -> Path:
        return self._path

    @property
    def variables(self) -> dict[str, str]:
        """The variables the config and manifests were rendered with (environment + --set)."""
        return self._variables

    @property
    def base_dir(self) -> Path:
        return self._path.parent

    @property
    def public_service(self) -> str:
        service = self.bluegreen.public_service if self.strategy == "bluegreen" else self.rolling.public_service
        return service or self.app

    @property
    def verify_staged(self) -> tuple[CheckSpec, ...]:
        """The staged checks, ready to run."""
        return specs(self.verify.staged)

    @property
    def verify_prod(self) -> tuple[CheckSpec, ...]:
        """The prod checks, ready to run."""
        return specs(self.verify.prod)
