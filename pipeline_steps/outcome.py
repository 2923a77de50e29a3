"""Exit codes of the command line, decided here and nowhere else."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What `pipeline-steps` exits with. Documented in the README; CI scripts may branch on them."""

    OK = 0  #: every step that ran succeeded (or, with --dry-run, planned without error)
    FAILED = 1  #: a step failed; nothing was switched back because nothing needed to be
    USAGE = 2  #: bad flags, config or manifests; nothing was changed
    ROLLED_BACK = 3  #: a step failed and the release was undone by itself (rolling undo, switch back)
    AWAITING_APPROVAL = 4  #: confirm handed the decision to a CI gate; run the next stage after it
    REJECTED = 5  #: the release was rejected or the approval timed out; the public endpoint is untouched
