"""How far a session is and when it should end: done counts, and an ETA from the remaining critical path. Pure.

Every package carries its *rank*: the expected seconds from its start to the end of the longest
chain of packages that wait for it (domain.graph, computed when the plan is saved). The session
cannot end before the longest rank among the packages not yet built has run out; a package
building now has already used part of its own. Expected seconds are turned into wall seconds by
the swarm's pace (domain.scheduling.swarm_pace: a simulation runs far faster than real builds, a
fleet of small guests slower).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swarm_celery.domain.model import TERMINAL_STATES

FINAL_STATES = tuple(sorted(s.value for s in TERMINAL_STATES))


@dataclass(frozen=True)
class Remaining:
    """A package not yet final: its rank (expected seconds, its own build included) and, when building, since when."""

    rank: float
    expected: float
    started_at: float | None = None


def done(counts: Mapping[str, int]) -> int:
    return sum(counts.get(state, 0) for state in FINAL_STATES)


def remaining_critical_path(packages: Iterable[Remaining], now: float, pace: float) -> float:
    """Wall seconds until the longest remaining chain ends: its expected seconds × pace, less what a running build has done."""
    longest = 0.0
    for pkg in packages:
        left = pkg.rank * pace
        if pkg.started_at is not None:
            left -= min(max(0.0, now - pkg.started_at), pkg.expected * pace)
        longest = max(longest, left)
    return longest


def eta(state: str, counts: Mapping[str, int], critical_left: float) -> float | None:
    """Seconds until the session should end; None when it is not running (or nothing is left to say it by)."""
    if state != "running" or done(counts) >= sum(counts.values()):
        return None
    return max(0.0, critical_left)


def elapsed_ratio(started_at: float | None, expected: float, now: float, pace: float) -> float | None:
    """How far a build is through its expected time on the wall clock (1.0: it should end now; above: a long tail)."""
    if started_at is None or expected <= 0 or pace <= 0:
        return None
    return max(0.0, now - started_at) / (expected * pace)


def clock_duration(seconds: float | None) -> str:
    """``M:SS`` or ``H:MM:SS`` (``-`` for none), as the terminal views show a duration."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
