"""What a strategy offers the steps, and the plan every step returns."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from pipeline_steps.render import Manifest


@dataclasses.dataclass
class Plan:
    """What a step would do: read from the cluster, decided, not yet done."""

    summary: str
    changes: list[str] = dataclasses.field(default_factory=list)
    diff: str = ""
    #: Nothing to do: the runner reports the step unchanged and does not execute it.
    noop: bool = False
    #: Facts to keep when the step runs (or, for read-only steps, at once).
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


class Strategy(Protocol):
    name: str

    def inspect(self) -> Plan:
        """check-env: read the cluster and decide the release's target."""

    def deploy_manifests(self) -> list[Manifest]:
        """The objects deploy applies."""

    def deploy_failed(self, deployments: list[str], error: Exception) -> str | None:
        """Undo what a failed deploy changed in public, if anything; a summary of the undo or None."""

    def staged_url(self, timeout: float) -> str | None:
        """Where verify-staged sends its requests."""

    def public_url(self, timeout: float) -> str | None:
        """Where verify-prod sends its requests."""

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
