"""What a run did, in one structure that every output reads: text, JSON, JUnit XML, GitHub summary."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class ErrorKind(enum.StrEnum):
    """Why a step failed, as CI needs to know it: run the stage again, fix the release, or report a bug."""

    PERMANENT = "permanent"  #: the release or its input is wrong; running it again gives the same
    TEMPORARY = "temporary"  #: the cluster or a service was unreachable, throttled or failing (5xx, timeout)
    INTERNAL = "internal"  #: an unexpected exception: a bug in pipeline-steps


class StepStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"  #: the step found nothing to do (a second identical run)
    PLANNED = "planned"  #: --dry-run: the step planned and changed nothing
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"  #: the step failed and undid its own change
    AWAITING_APPROVAL = "awaiting-approval"
    REJECTED = "rejected"
    SKIPPED = "skipped"


@dataclasses.dataclass
class CheckResult:
    """One verification check, as JUnit test cases and the approval e-mail show it."""

    name: str
    target: str  #: URL or command
    passed: bool
    attempts: int
    duration_s: float
    detail: str = ""  #: why it failed, or what it saw when it passed


@dataclasses.dataclass
class StepReport:
    name: str
    status: StepStatus
    summary: str  #: one line for people
    duration_s: float = 0.0
    changes: list[str] = dataclasses.field(default_factory=list)  #: planned or made, e.g. "patch Service/web"
    diff: str = ""  #: unified diff of planned changes (dry-run)
    checks: list[CheckResult] = dataclasses.field(default_factory=list)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  #: step-specific facts (roles, digest...)
    error: str | None = None
    error_kind: ErrorKind | None = None
    unchecked: list[str] = dataclasses.field(default_factory=list)  #: what an offline plan could not check

    @property
    def ok(self) -> bool:
        return self.status in (StepStatus.SUCCEEDED, StepStatus.UNCHANGED, StepStatus.PLANNED, StepStatus.SKIPPED)


@dataclasses.dataclass
class RunReport:
    app: str
    namespace: str
    strategy: str
    run_id: str
    dry_run: bool = False
    started_at: str = ""  #: ISO 8601, UTC
    finished_at: str = ""
    steps: list[StepReport] = dataclasses.field(default_factory=list)
    exit_code: int = 0
    outcome: str = ""  #: the ExitCode name, lower-case: ok, failed, rolled_back, ...
    #: Facts gathered by the steps, e.g. active_role, idle_role, previous_role, image, image_digest.
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Each finding once, in the order found (a legacy apiVersion converted, a release with no checks...).
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def convert(value: Any) -> Any:
            if isinstance(value, enum.Enum):
                return value.value
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list):
                return [convert(v) for v in value]
            return value

        result: dict[str, Any] = convert(dataclasses.asdict(self))
        return result
