"""What one run has learned and done, carried from step to step (and, through the state file, from CI stage
to CI stage): one typed record, one meaning per field.

A step's plan proposes updates as a `FactUpdates` (a TypedDict, so a key that is not a field, or a value of
the wrong type, is a type error where the plan is written); the runner merges them into the run's `RunFacts`.
What a step needs only between its own plan and execute stays in `Plan.details`, never here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict


@dataclasses.dataclass
class RunFacts:
    # -- check-env ------------------------------------------------------------------------------------
    #: The role the public Service selects (blue/green); None before the first release.
    active_role: str | None = None
    #: The role this run deploys to and makes public (blue/green).
    target_role: str | None = None
    #: The role that does not serve the public: the one the next release deploys to.
    idle_role: str | None = None
    #: This release already runs on the public role: nothing to deploy or switch.
    already_live: bool = False
    #: Per role, what check-env saw: {"deployments": [...], "exists": bool, "available": bool, "images": [...]}.
    roles: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Rolling: per Deployment, its revision, images and rollout state before this run.
    live_deployments: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: Rolling: no Deployment of the app existed before this run.
    first_release: bool = False
    #: The run id the public Service's annotations name (the run that last switched it).
    last_run_id: str | None = None
    # -- prepare-image ----------------------------------------------------------------------------------
    #: The image as configured or built (a tag).
    image: str | None = None
    #: The image as deployed: pinned to its digest when resolved.
    image_ref: str | None = None
    # -- deploy -----------------------------------------------------------------------------------------
    #: The Deployments deploy applies (names).
    deployments: list[str] = dataclasses.field(default_factory=list)
    #: What deploy changed, each object as it was before (strategies/undo.py): what an undo puts back.
    changed_objects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # -- verify, confirm --------------------------------------------------------------------------------
    preview_url: str | None = None
    public_url: str | None = None
    #: The staged checks' results, for the approval e-mail: [{"name", "target", "passed", "detail"}].
    staged_checks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    prod_checks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Who decided at confirm, and how.
    approval: str | None = None
    # -- switch, verify-prod ----------------------------------------------------------------------------
    #: The public Service selects this run's target role (None: no switch was planned yet).
    switched: bool | None = None
    #: The role the public Service selected before this run's switch.
    previous_role: str | None = None
    switch_seconds: float | None = None
    #: Settings the switch raised for a while (an HPA's minReplicas), each as it was (strategies/undo.py):
    #: given back after the switch, or by the next run of this one if it was killed in between.
    capacity_changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: verify-prod failed and public traffic went back to the previous role.
    reverted: bool = False
    # -- pre-clean --------------------------------------------------------------------------------------
    #: An unfinished earlier run of this app found in the state file; pre-clean forgets it.
    previous_run: str | None = None

    def merge(self, updates: FactUpdates) -> None:
        for key, value in updates.items():
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from their defaults: what the state file and reports carry."""
        defaults = RunFacts()
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != getattr(defaults, field.name)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFacts:
        """Raises TypeError on a key that is not a field (a state file of another version)."""
        return cls(**data)


class FactUpdates(TypedDict, total=False):
    """What a plan adds to the run's facts. Each key is a field of RunFacts, with its type."""

    active_role: str | None
    target_role: str | None
    idle_role: str | None
    already_live: bool
    roles: dict[str, dict[str, Any]]
    live_deployments: dict[str, dict[str, Any]]
    first_release: bool
    last_run_id: str | None
    image: str | None
    image_ref: str | None
    deployments: list[str]
    changed_objects: list[dict[str, Any]]
    preview_url: str | None
    public_url: str | None
    staged_checks: list[dict[str, Any]]
    prod_checks: list[dict[str, Any]]
    approval: str | None
    switched: bool | None
    previous_role: str | None
    switch_seconds: float | None
    capacity_changes: list[dict[str, Any]]
    reverted: bool
    previous_run: str | None


#: Facts copied into the run report: what CI outputs and summaries show.
REPORTED_FACTS = (
    "active_role", "idle_role", "previous_role", "target_role", "image", "image_ref",
    "public_url", "preview_url", "switched", "switch_seconds", "approval",
)  # fmt: skip


def reported(facts: RunFacts) -> dict[str, Any]:
    return {key: getattr(facts, key) for key in REPORTED_FACTS if getattr(facts, key) is not None}
