"""Composable CI steps for zero-downtime Kubernetes releases.

The public Python API is `__all__`: what a runner of your own, or a script calling the steps, may rely on
(README, "Python API"). Everything else is internal and may move between releases.

The names are imported on first use (PEP 562), so `import pipeline_steps` stays cheap: the command line's
`--help` and `--version` must not pay for the Kubernetes client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    # Running steps
    "run": "pipeline_steps.runner",
    "select_steps": "pipeline_steps.runner",
    "open_release": "pipeline_steps.session",
    "ReleaseOptions": "pipeline_steps.session",
    "ReleaseContext": "pipeline_steps.context",
    "RunFacts": "pipeline_steps.facts",
    "STEP_NAMES": "pipeline_steps.step_names",
    # Configuration
    "load_config": "pipeline_steps.config",
    "Config": "pipeline_steps.config",
    # What a run reports, and the exit code it maps to
    "RunReport": "pipeline_steps.report",
    "StepReport": "pipeline_steps.report",
    "StepStatus": "pipeline_steps.report",
    "CheckResult": "pipeline_steps.report",
    "ExitCode": "pipeline_steps.outcome",
    # Errors: every error the library raises is a PipelineError
    "PipelineError": "pipeline_steps.errors",
    "ConfigError": "pipeline_steps.errors",
    "ClusterError": "pipeline_steps.errors",
}

__all__ = [
    "STEP_NAMES",
    "CheckResult",
    "ClusterError",
    "Config",
    "ConfigError",
    "ExitCode",
    "PipelineError",
    "ReleaseContext",
    "ReleaseOptions",
    "RunFacts",
    "RunReport",
    "StepReport",
    "StepStatus",
    "__version__",
    "load_config",
    "open_release",
    "run",
    "select_steps",
]

if TYPE_CHECKING:
    # What type checkers and editors see. They do not see __getattr__ below, so a misspelt name is an error.
    from pipeline_steps.config import Config, load_config
    from pipeline_steps.context import ReleaseContext
    from pipeline_steps.errors import ClusterError, ConfigError, PipelineError
    from pipeline_steps.facts import RunFacts
    from pipeline_steps.outcome import ExitCode
    from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus
    from pipeline_steps.runner import run, select_steps
    from pipeline_steps.session import ReleaseOptions, open_release
    from pipeline_steps.step_names import STEP_NAMES
else:

    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
