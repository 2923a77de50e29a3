"""What a strategy offers the steps, and the plan every step returns."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from pipeline_steps.facts import FactUpdates
from pipeline_steps.render import Manifest


@dataclasses.dataclass
class Plan:
    """What a step would do: read from the cluster, decided, not yet done."""

    summary: str
    changes: list[str] = dataclasses.field(default_factory=list)
    diff: str = ""
    #: Nothing to do: the runner reports the step unchanged and does not execute it.
    noop: bool = False
    #: What the run learns from this plan; the runner merges it into the run's facts.
    facts: FactUpdates = dataclasses.field(default_factory=FactUpdates)
    #: The objects execute applies, exactly as planned (rendered once, shown in the diff).
    objects: list[Manifest] = dataclasses.field(default_factory=list)
    #: What the plan could not check (an offline plan: what only the cluster can tell).
    unchecked: list[str] = dataclasses.field(default_factory=list)
    #: What the step's own execute needs from its plan (the role it switches from, the lock it removes).
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


class Strategy(Protocol):
    name: str

    def inspect(self) -> Plan:
        """check-env: read the cluster and decide the release's target."""

    def rendered_by_role(self) -> dict[str, list[Manifest]]:
        """Every role's manifests, rendered and validated, keyed by role ("" for a strategy without roles):
        what an offline plan can check without a cluster."""

    def deploy_manifests(self) -> list[Manifest]:
        """The objects deploy applies."""

    def replicas_to_restore(self, manifests: list[Manifest], live: dict[str, dict[str, Any] | None]) -> dict[str, int]:
        """Deployments deploy scales up after applying, by name, with their replicas: those left at 0 that the
        apply would not bring back (strategies/autoscaling.py). `live`: each Deployment as it is, by name."""

    def deploy_failed(self, deployments: list[str], error: Exception) -> str | None:
        """Undo what a failed deploy changed in public, if anything; a summary of the undo or None."""

    def staged_service(self) -> str | None:
        """The Service verify-staged sends its requests to (None: there is none)."""

    def public_service(self) -> str | None:
        """The Service verify-prod sends its requests to."""

    def plan_switch(self) -> Plan: ...

    def switch(self, plan: Plan) -> Plan:
        """Make the target public; returns what was done (summary, changes, data)."""

    def revert(self, reason: str) -> str:
        """verify-prod failed: put the previous release back in public; a summary of what was done."""

    def plan_post_clean(self) -> Plan: ...

    def post_clean(self, plan: Plan) -> Plan: ...

    def plan_rollback(self) -> Plan: ...

    def rollback(self, plan: Plan) -> Plan: ...

    def status(self) -> dict[str, Any]: ...
