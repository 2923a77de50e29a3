"""How verify reaches the Services it checks (`access.staged`, `access.prod`).

A load balancer address is only one way in: a test Service behind an Ingress or a Gateway is usually a
ClusterIP, which a CI agent outside the cluster cannot reach at all. Each stage says how its checks get there;
without a setting, the Service's own type decides (see `pipeline_steps.checks.access`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from pipeline_steps.config.fields import VARIABLE_REF, Duration, MaybeText, Section, maybe_text, problem, problems

AccessMode = Literal["loadbalancer", "url", "apiserver-proxy", "port-forward", "cluster-dns"]
ACCESS_MODES: tuple[str, ...] = get_args(AccessMode)
#: A cloud load balancer takes minutes to be provisioned (AWS NLB, Azure): 60 s failed real first releases.
LOADBALANCER_TIMEOUT_S = 600.0


def _mode(value: Any) -> str | None:
    chosen = maybe_text(value)  # "" (an unset `${VAR:-}`) means: the Service's type decides
    if chosen is not None and chosen not in ACCESS_MODES:
        raise problem(
            f"is {chosen!r}; choose one of: {', '.join(ACCESS_MODES)}", "or leave it out: the Service's type decides"
        )
    return chosen


_MODE_SCHEMA = {"anyOf": [{"enum": list(ACCESS_MODES)}, VARIABLE_REF]}


class StageAccess(Section):
    """How one stage's checks reach its Service."""

    mode: Annotated[AccessMode | None, BeforeValidator(_mode), WithJsonSchema(_MODE_SCHEMA)] = Field(
        default=None,
        description="loadbalancer: the Service's load balancer address; url: `url` below; apiserver-proxy: "
        "the apiserver's service proxy (/api/v1/namespaces/NS/services/NAME:PORT/proxy/) with the kubeconfig's "
        "credentials, from any CI agent; port-forward: a local port forwarded through the apiserver to a ready "
        "pod of the Service; cluster-dns: http://NAME.NS.svc:PORT, for runners inside the cluster. "
        "Default: `url` when one is given, else the Service's type decides (LoadBalancer: loadbalancer; "
        "ClusterIP, NodePort: apiserver-proxy).",
    )
    url: MaybeText = Field(
        default=None,
        description="The base URL the checks' paths are joined to (an Ingress host, a Gateway route), for mode url.",
    )
    port: MaybeText = Field(
        default=None,
        description="The Service port the checks use, by name or number (default: the Service's first port).",
    )
    loadbalancer_timeout_s: Duration = Field(
        default=LOADBALANCER_TIMEOUT_S,
        alias="loadbalancer_timeout",
        description="How long mode loadbalancer waits for the Service's load balancer address and, when it is a "
        "hostname (AWS), for that name to resolve. Default 10m: cloud load balancers take minutes.",
    )

    @model_validator(mode="after")
    def _url_with_its_mode(self) -> StageAccess:
        if self.mode == "url" and not self.url:
            raise problems(
                type(self).__name__, [(("url",), "is required with `mode: url`", "add `url: https://...`", None)]
            )
        if self.url and self.mode not in (None, "url"):
            hint = "remove `url`, or set `mode: url`"
            raise problems(type(self).__name__, [(("url",), f"is not used with `mode: {self.mode}`", hint, None)])
        return self

    @property
    def chosen_mode(self) -> str | None:
        """The mode set in the file (`url` when only a URL is given); None: the Service's type decides."""
        return "url" if self.url and self.mode is None else self.mode


class AccessSettings(Section):
    """How verify reaches the Services it checks: per stage, since the test Services and the public one often
    differ (ClusterIP test Services, a public load balancer)."""

    staged: StageAccess = Field(
        default_factory=StageAccess,
        description="verify-staged: the idle role's test Service (rolling: the public one).",
    )
    prod: StageAccess = Field(default_factory=StageAccess, description="verify-prod: the public Service.")
