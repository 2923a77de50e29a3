"""A step: a plain pair of functions. `plan` reads the cluster and decides; `execute` does what was planned.

The runner calls `plan`, and `execute` only when the plan has something to do and this is not a dry-run:
that split is what makes --dry-run trustworthy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pipeline_steps.context import ReleaseContext
from pipeline_steps.report import CheckResult, StepStatus
from pipeline_steps.strategies.base import Plan


@dataclasses.dataclass
class Outcome:
    """What executing a step did."""

    summary: str
    status: StepStatus = StepStatus.SUCCEEDED
    changes: list[str] = dataclasses.field(default_factory=list)
    checks: list[CheckResult] = dataclasses.field(default_factory=list)
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    plan: Callable[[ReleaseContext], Plan]
    execute: Callable[[ReleaseContext, Plan], Outcome]
    #: Read-only steps run even in a dry-run (they only read) and report what they found.
    read_only: bool = False
    #: Steps that change the cluster hold the app's release lock (pipeline_steps.release_lock) while they run.
    changes_cluster: bool = False
    #: What only the cluster can tell this step: an offline plan (no cluster) skips it and says so.
    #: None: the step plans without a cluster (and its plan lists what it left unchecked).
    needs_cluster: str | None = None
