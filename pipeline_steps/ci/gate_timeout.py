"""Whether a CI system's approval gate can outlive the cluster's release lock.

`step confirm` in mode `jenkins` or `github` hands the decision to the CI's own gate (a Jenkins `input` inside a
`timeout`, a GitHub environment review) and keeps the release lock while the gate waits. The lock lasts as long as
the longest wait one step may make, plus a margin (`release_lock.duration_for`): a gate that may wait longer lets the
lock go stale, another run may take it over, and a late approval then fails at switch. The pipeline tells the
command line how long its gate may wait (PIPELINE_STEPS_GATE_TIMEOUT, e.g. "30m"), and confirm warns.
"""

from __future__ import annotations

import re

from pipeline_steps.errors import ConfigError

GATE_TIMEOUT_ENV = "PIPELINE_STEPS_GATE_TIMEOUT"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def parse_gate_timeout(value: str) -> float:
    """Seconds from "1800", "90s", "30m" or "1h"."""
    match = _DURATION.match(value)
    if not match:
        raise ConfigError(f"{value!r} is not a duration", field=GATE_TIMEOUT_ENV, hint='write e.g. "30m", "1h", "1800"')
    return float(match.group(1)) * _UNITS[match.group(2)]


def gate_outlives_lock(gate_timeout: str | None, lock_duration_s: float) -> str | None:
    """The warning to give when the gate may wait longer than the release lock lasts; None when it fits, or when
    the pipeline did not say how long its gate waits."""
    if not gate_timeout:
        return None
    gate_s = parse_gate_timeout(gate_timeout)
    if gate_s <= lock_duration_s:
        return None
    return (
        f"the CI's approval gate may wait {_minutes(gate_s)}, but the release lock lasts {_minutes(lock_duration_s)} "
        "(confirm.timeout + 5 minutes): an approval after that may find another run holding the lock and fail at "
        "switch. Shorten the gate's timeout or raise confirm.timeout."
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"
