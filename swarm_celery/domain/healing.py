"""The self-healing ladder for a drone that stops answering: which step comes next, and when.

Level 1 restarts the drone's service, level 2 kills its worker's process group and starts it, level 3
reboots it — only an LXC or QEMU guest, never bare metal — and level 4 alerts a human. A level is
taken only after ``grace`` seconds of silence (the first) or ``cooldown`` seconds after the previous
one; a drone that answers again starts from the bottom. Pure: the service
(:mod:`swarm_celery.services.fleet`) runs the steps and records each as an event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum


class Level(IntEnum):
    NONE = 0
    RESTART = 1
    HARD_RESTART = 2
    REBOOT = 3
    ALERT = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class HealingPolicy:
    grace: float = 60.0  # silent this long before level 1 (a missed ping or two is not an outage)
    cooldown: float = 300.0  # between one level and the next: time for the step to work


@dataclass(frozen=True, slots=True)
class Ladder:
    """One drone's place on the ladder: the last level taken, when, and since when it has been silent."""

    level: Level = Level.NONE
    acted_at: float = 0.0
    silent_since: float = 0.0  # 0: it answers

    @property
    def healing(self) -> bool:
        return self.silent_since > 0 or self.level > Level.NONE


@dataclass(frozen=True, slots=True)
class DroneHealth:
    """What the fleet doctor remembers of a drone between rounds (a row of ``drone_health``)."""

    ladder: Ladder = Ladder()
    error: str = ""  # the last SSH error ("" when the last probe reached it): an event only when it changes
    findings: frozenset[str] = frozenset()  # kinds found by the last probe: an event only for new ones
    sync_asked_at: float = 0.0  # when it was last told to sync its stale tree (0: not since its tree was current)


def silent(ladder: Ladder, now: float) -> Ladder:
    """The drone did not answer: note since when (kept from the first miss)."""
    return ladder if ladder.silent_since else replace(ladder, silent_since=now)


def recovered(ladder: Ladder) -> Ladder:
    """It answers again: back to the bottom of the ladder."""
    return Ladder()


def next_level(ladder: Ladder, now: float, policy: HealingPolicy) -> Level | None:
    """The level to take now, or None: still in grace or cooldown, answering, or already alerted."""
    if not ladder.silent_since or ladder.level >= Level.ALERT:
        return None
    if ladder.level == Level.NONE:
        return Level.RESTART if now - ladder.silent_since >= policy.grace else None
    if now - ladder.acted_at < policy.cooldown:
        return None
    return Level(ladder.level + 1)


def took(ladder: Ladder, level: Level, now: float) -> Ladder:
    """``level`` was taken (done, failed or refused: the next one waits its cooldown either way)."""
    return replace(ladder, level=level, acted_at=now)
