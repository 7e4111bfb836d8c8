"""Operator controls: what each action needs, validated before anything is sent.

``build-swarm control ACTION`` and the ``swarm.control`` task share these
definitions; the coordinator applies them (``services/control.py``). Every action is
idempotent: applying it twice changes nothing the second time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.names import SESSION_ID, check_drone_name


class Action(enum.StrEnum):
    PAUSE = "pause"  # stop dispatching (everything, or one --drone); running builds go on
    RESUME = "resume"  # dispatch again
    UNBLOCK = "unblock"  # a blocked package (ATOM) and what it skipped go back to the queue, failures forgotten
    UNGROUND = "unground"  # a grounded --drone takes work again now
    RESET = "reset"  # rebuild one package (ATOM) from scratch: running attempt taken back, failures forgotten
    REBALANCE = "rebalance"  # take back work queued on drones but not started, and place it again
    CLEAR_FAILURES = "clear_failures"  # forget failure history (of one --drone, or all): drones may get those packages again
    RETRY_FAILURES = "retry_failures"  # every blocked package (of --session, or all) and what it skipped back to the queue
    CANCEL = "cancel"  # cancel --session: nothing more is dispatched, running builds are taken back


PAUSED_FLAG = "paused"  # the swarm-wide flag `control pause` (without --drone) sets: nothing is dispatched while it is

NEEDS_DRONE = {Action.UNGROUND}
NEEDS_ATOM = {Action.UNBLOCK, Action.RESET}
NEEDS_SESSION = {Action.CANCEL}
TAKES_DRONE = {Action.PAUSE, Action.RESUME, Action.UNGROUND, Action.CLEAR_FAILURES}
TAKES_SESSION = {Action.UNBLOCK, Action.RESET, Action.RETRY_FAILURES, Action.CANCEL}


@dataclass(frozen=True, slots=True)
class ControlRequest:
    action: Action
    drone: str = ""
    session: str = ""
    atom: str = ""
    request_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {"action": self.action.value, "drone": self.drone, "session": self.session, "atom": self.atom,
                "request_id": self.request_id}

    @classmethod
    def from_json(cls, data: object) -> ControlRequest:
        """A control request from the coordinator queue, checked (ValueError naming what is wrong)."""
        if not isinstance(data, dict):
            raise ValueError("the control request is not a JSON object")

        def field(key: str, limit: int) -> str:
            value = data.get(key)
            if (value is not None and not isinstance(value, str)) or len(value or "") > limit:
                raise ValueError(f"{key} is not text of at most {limit} characters")
            return value or ""

        if "action" not in data:
            raise ValueError("the control request names no action")
        return validate(cls(Action(field("action", 32)), field("drone", 64), field("session", 32), field("atom", 256),
                            field("request_id", 64)))


def validate(request: ControlRequest) -> ControlRequest:
    """The request itself, or ValueError saying what is missing or does not apply."""
    action = request.action
    if action in NEEDS_DRONE and not request.drone:
        raise ValueError(f"{action} needs --drone NAME (see `build-swarm fleet`)")
    if action in NEEDS_ATOM and not request.atom:
        raise ValueError(f"{action} needs an ATOM (category/package or =category/package-version)")
    if action in NEEDS_SESSION and not request.session:
        raise ValueError(f"{action} needs --session ID (see `build-swarm history`)")
    if request.drone and action not in TAKES_DRONE:
        raise ValueError(f"{action} does not take --drone")
    if request.session and action not in TAKES_SESSION:
        raise ValueError(f"{action} does not take --session")
    if request.atom and action not in NEEDS_ATOM:
        raise ValueError(f"{action} does not take an ATOM")
    if request.drone:
        check_drone_name(request.drone)
    if request.session and not SESSION_ID.fullmatch(request.session):
        raise ValueError(f"session {request.session[:40]!r} is not a session id (hex digits; see `build-swarm history`)")
    return request


def matches_atom(atom: str, cpv: str) -> bool:
    """``cat/pkg`` matches every version; ``=cat/pkg-ver`` (or the bare CPV) exactly that one (``-r0`` is no revision)."""
    exact = _no_r0(atom[1:] if atom.startswith("=") else atom)
    if exact == _no_r0(cpv):
        return True
    if atom.startswith("="):
        return False
    try:
        parts = split_cpv(cpv)
    except ValueError:
        return False
    return f"{parts.category}/{parts.package}" == atom


def _no_r0(cpv: str) -> str:
    return cpv.removesuffix("-r0")
