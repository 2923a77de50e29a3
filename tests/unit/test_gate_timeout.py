"""The warning `step confirm` gives when the CI's approval gate can outlive the cluster's release lock."""

from __future__ import annotations

import pytest

from pipeline_steps.ci.gate_timeout import gate_outlives_lock, parse_gate_timeout
from pipeline_steps.errors import ConfigError

LOCK_S = 1800 + 300  # the default: confirm.timeout 30 minutes + the 5-minute margin


@pytest.mark.parametrize(("text", "seconds"), [("1800", 1800), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2.5m", 150)])
def test_gate_timeouts_are_read_as_durations(text: str, seconds: float) -> None:
    assert parse_gate_timeout(text) == seconds


@pytest.mark.parametrize("text", ["soon", "30 minutes", "-5m", "1d"])
def test_a_bad_gate_timeout_names_the_variable_and_the_fix(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_gate_timeout(text)
    assert raised.value.field == "PIPELINE_STEPS_GATE_TIMEOUT"
    assert "30m" in str(raised.value)


@pytest.mark.parametrize("gate", [None, "", "30m", "35m", "2100"])
def test_a_gate_within_the_lock_gives_no_warning(gate: str | None) -> None:
    assert gate_outlives_lock(gate, LOCK_S) is None


def test_a_gate_that_outlives_the_lock_says_both_durations_and_what_to_do() -> None:
    warning = gate_outlives_lock("60m", LOCK_S)
    assert warning is not None
    assert "60 min" in warning and "35 min" in warning
    assert "confirm.timeout" in warning
