"""Drones of unknown speed: long builds wait until a drone has shown its speed, and move when it turns out slow.

A drone whose speed is not known yet (a fresh swarm, a drone that just joined) gets short builds
first (:func:`calibrating`): three of them tell its speed, and a long build on the critical path
should not be the one that finds out that a drone is slow.

Long builds may still land on slow drones (when nothing shorter is left to calibrate with, or a
drone turns out slower than it seemed). Once nothing ready is left for an idle drone, a build expected to finish clearly sooner there — started from scratch,
one round trip later — is taken back from where it runs and placed again (the coordinator
fences the old attempt, so its late report is ignored). Idle capacity does the work, and the
longest remaining chains are moved first. A package is moved at most once. A move needs the target to be faster than
the source by more than the builds' own spread (``swarm_spread``): a speed difference within what builds stray by
anyway is noise (in a swarm whose builds take milliseconds, all of it is), not a reason to throw a build away.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from swarm_celery.domain.scheduling import Candidate, DroneCapacity, busy_until

LONG = 2.0  # while drones calibrate, a package expected to take this × the median of what is ready is long
MIN_GAIN = 0.3  # a move must save this share of the build's expected remaining time ...
MIN_GAIN_SECONDS = 1.0  # ... and at least this many seconds (wall clock)
ROUND_TRIP = 0.5  # seconds from taking a build back to its start elsewhere, about


@dataclass(frozen=True, slots=True)
class RunningBuild:
    attempt: str
    package: int
    session: str
    cpv: str
    drone: str
    started: float  # wall clock
    weight: float  # expected seconds on a drone of speed 1.0
    rank: float  # remaining path: the longest chain waiting on it
    excluded: frozenset[str] = frozenset()  # drones that failed it: never moved there


@dataclass(frozen=True, slots=True)
class Move:
    build: RunningBuild
    source: str
    target: str
    gain: float  # expected seconds saved


def calibrating(candidates: list[Candidate], drones: Iterable[DroneCapacity], known: frozenset[str]) -> list[Candidate]:
    """``candidates`` with the long ones kept off the free drones whose speed is not ``known`` — as long as the short ones
    are enough to keep those drones busy (else a drone would idle rather than take a long build)."""
    unknown = {d.name: d.free for d in drones if d.name not in known and d.free > 0}
    if not unknown or not candidates:
        return candidates
    middle = statistics.median(c.weight for c in candidates)
    long = {c.key for c in candidates if c.weight > LONG * middle}
    if len(candidates) - len(long) < sum(unknown.values()):
        return candidates
    away = frozenset(unknown)
    return [replace(c, excluded=c.excluded | away) if c.key in long else c for c in candidates]


def decisive(source: float, target: float, spread: float) -> bool:
    """Whether a drone of ``target`` wall seconds per expected second is faster than one of ``source`` by more than builds
    stray anyway (``spread``: a robust standard deviation of log(actual / expected))."""
    return source > target * math.exp(spread)


def may_move(drones: Iterable[DroneCapacity], idle: Mapping[str, int], known: frozenset[str], spread: float) -> bool:
    """Whether :func:`moves` could find anything, from the drones alone (before the builds in flight are read): some
    drone running something is decisively slower than the fastest idle drone whose speed is known."""
    drones = list(drones)
    targets = [d.speed for d in drones if idle.get(d.name, 0) > 0 and d.name in known]
    if not targets:
        return False
    fastest = min(targets)
    return any(d.busy_until and decisive(d.speed, fastest, spread) for d in drones)


def expected_end(build: RunningBuild, speed: float, now: float, spread: float = 0.0) -> float:
    """When it should finish where it runs (wall seconds per expected second: ``speed``; see ``busy_until``)."""
    return busy_until(build.started, build.weight * speed, now, spread)


def moves(running: Iterable[RunningBuild], idle: Mapping[str, int], speed: Mapping[str, float], known: frozenset[str],
          now: float, spread: float = 0.0, moved: frozenset[int] = frozenset()) -> list[Move]:
    """Builds to move: highest rank first, each to the fastest idle drone whose speed is known (``known``) where it is
    expected to end ``MIN_GAIN`` sooner. ``idle[drone]``: its free slots nothing ready can use; ``speed[drone]``: wall
    seconds per expected second there (the swarm's pace × its speed; an unknown drone counts as the swarm's median)."""
    free = {d: n for d, n in idle.items() if n > 0 and d in known and d in speed}
    result: list[Move] = []
    for build in sorted(running, key=lambda b: (-b.rank, b.attempt)):
        if not free:
            break
        if build.package in moved or build.drone not in speed:
            continue
        options = [d for d in free if d not in build.excluded]
        if not options:
            continue
        target = min(options, key=lambda d: (speed[d], d))
        end = expected_end(build, speed[build.drone], now, spread)
        elsewhere = now + ROUND_TRIP + build.weight * speed[target]
        gain = end - elsewhere
        if target == build.drone or gain < max(MIN_GAIN_SECONDS, MIN_GAIN * (end - now)) \
                or not decisive(speed[build.drone], speed[target], spread):
            continue
        result.append(Move(build, build.drone, target, gain))
        free[target] -= 1
        if not free[target]:
            del free[target]
    return result


__all__ = ["MIN_GAIN", "Move", "RunningBuild", "calibrating", "decisive", "expected_end", "may_move", "moves"]
