"""The one error hierarchy of pipeline-steps.

Library exceptions (kubernetes, urllib3, aiosmtplib, jenkinsapi, requests) never leave the package:
the code that calls a library wraps what it raises in one of these, with ``raise ... from``, so the
runner can decide the exit code in one place and a user reads one kind of message.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error this package raises on purpose."""

    #: Whether trying the same thing again may succeed (409 conflicts, timeouts, 5xx, lost connections).
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(PipelineError):
    """Bad input from the user: config file, manifest, flag or environment. Names where and how to fix."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None, hint: str | None = None):
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.source = source
        self.field = field


class RenderError(ConfigError):
    """A manifest could not be rendered (unset variable, bad YAML, an API version no cluster serves)."""


class ClusterError(PipelineError):
    """The cluster refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.retryable = retryable


class ApplyConflict(ClusterError):
    """Server-side apply refused: other field managers own fields the manifests set to other values. Taking
    them over (force) or leaving them to their manager is the user's choice, so it is never retried."""


class RolloutFailed(PipelineError):
    """A Deployment did not become available within its deadline, or its pods failed."""


class SwitchedBack(RolloutFailed):
    """A switch that did not complete put the public Service back on the role it came from."""


class CheckFailed(PipelineError):
    """A verification check (HTTP or command) did not pass."""


class ImageError(PipelineError):
    """Building, pushing or resolving an image failed."""


class NotificationError(PipelineError):
    """A notification (e-mail) could not be delivered."""


class ApprovalRejected(PipelineError):
    """A person rejected the release, or the approval timed out with `reject` as its default."""


class ApprovalPending(PipelineError):
    """The decision belongs to a CI gate (Jenkins `input`, a GitHub environment) that has not yet run."""


class CIError(PipelineError):
    """A CI server (Jenkins) refused or failed a request."""


class LockHeld(PipelineError):
    """Another run of the same app holds the release lock."""
