"""The one error tree of build-swarm.

Everything the user can fix is a :class:`UserError`: the CLI prints it as one line
that says what to do next and exits non-zero; a traceback only with ``--debug``.
"""

from __future__ import annotations


class SwarmError(Exception):
    """Base of every error build-swarm raises on purpose."""

    exit_code = 1


class UserError(SwarmError):
    """Bad input or configuration: one line for the user, no traceback."""

    exit_code = 2


class ConfigError(UserError):
    """A setting, path or file the user gave is missing or malformed."""


class ResolveError(UserError):
    """portage could not turn the world into a plan; the message names the atom and the fix."""

    def __init__(self, message: str, *, kind: str = "resolve", atom: str = "", details: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.atom = atom
        self.details = details


class NotFoundError(UserError):
    """A session, package or attempt the user named does not exist."""


class BrokerError(SwarmError):
    """The message broker cannot be reached or started."""

    exit_code = 3


class ArtifactError(SwarmError):
    """An uploaded or staged binary package failed verification."""


class CoordinatorFault(ArtifactError):
    """The coordinator, not the artifact, could not take it (its disk is full): counted against neither drone nor package."""


class RecordError(SwarmError):
    """The record (the database) cannot be used: damaged, full, or unreachable; the message says which and what to do."""

    exit_code = 4

    @classmethod
    def damaged(cls, problem: str, where: str = "") -> RecordError:
        """The one message for a record that does not read whole, saying what to do about it."""
        record = f"the record {where}" if where else "the record"
        return cls(f"{record} is damaged ({problem}): restore it from a backup, or try `sqlite3 FILE .recover` into a new file")


class RecordFull(RecordError):
    """The record cannot be written: its disk is full."""


class ControlFailed(UserError):
    """An operator control names something that does not exist; the message says what to do."""


class BuildFailed(SwarmError):
    """A drone's build did not produce a binary package; ``log_tail`` is what the coordinator classifies and
    ``build_status`` the build command's exit status (negative: the signal that ended it; None: it never ran)."""

    def __init__(self, message: str, log_tail: str = "", build_status: int | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail or message
        self.build_status = build_status


class UploadFailed(SwarmError):
    """A drone could not hand its artifact or log to the coordinator's API (after its retries)."""


class RemoteError(SwarmError):
    """A drone host could not be reached, or refused us, over SSH; the message says which and what to check."""


class CheckFailed(SwarmError):
    """Checks that were shown found something to fix (`drone --check`, `drone audit`); the message sums them up in one line.
    ``exit_code``: 1 for a failed check, or the audit's own (1 a warning, 2 a failure)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ProvisionError(SwarmError):
    """Provisioning or deploying a drone stopped: the message names the drone, the step, and what to do."""
