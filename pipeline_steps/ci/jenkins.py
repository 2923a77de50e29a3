"""The Jenkins client of pipeline-steps: decide Pipeline inputs and trigger builds.

The only code that imports jenkinsapi (in ``jenkins_http``); callers import from here. Every function
raises only CIError (Jenkins refused or failed) and ConfigError (bad arguments or settings).
"""

from __future__ import annotations

from pipeline_steps.ci.jenkins_auth import TOKEN_ENV, URL_ENV, USER_ENV, JenkinsAuth
from pipeline_steps.ci.jenkins_builds import BuildResult, trigger_build
from pipeline_steps.ci.jenkins_inputs import InputDecision, InputOutcome, approve_input, reject_input

__all__ = [
    "TOKEN_ENV",
    "URL_ENV",
    "USER_ENV",
    "BuildResult",
    "InputDecision",
    "InputOutcome",
    "JenkinsAuth",
    "approve_input",
    "reject_input",
    "trigger_build",
]
