"""How good a finished run's schedule was, judged in hindsight.

Once every build has run, its real duration is known: no schedule could have finished
sooner than the longer of the critical path (every build on it run on the fastest drone)
and the total work spread over the whole fleet's speed. Failed tries count as work too, and
along the path (a retry follows its failure): whichever scheduler ran, that part of the build
was thrown away. A run's makespan over this
bound is the scheduler's own cost: wrong estimates, slow learning, messages, idle slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swarm_celery.domain.scheduling import critical_path


@dataclass(frozen=True, slots=True)
class Realized:
    """One try as it ran: on which drone, for how long (wall seconds), and whether it produced the package."""

    cpv: str
    drone: str
    seconds: float
    succeeded: bool


@dataclass(frozen=True, slots=True)
class Hindsight:
    critical_path: float  # wall seconds, every build on it on the fastest drone
    work_bound: float  # total work (failed tries included) / the fleet's capacity
    makespan: float  # first start to last finish

    @property
    def bound(self) -> float:
        return max(self.critical_path, self.work_bound)

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound if self.bound > 0 else 1.0


def hindsight(gates: Mapping[str, frozenset[str]], tries: Iterable[Realized], slowdown: Mapping[str, float],
              slots: Mapping[str, int], makespan: float) -> Hindsight:
    """``slowdown[drone]``: how many times longer than a speed-1 drone it takes (1 when unknown); ``slots[drone]``
    its concurrent builds. ``tries`` in the order they ran; a package counts its tries up to its first success."""
    base: dict[str, float] = {}  # per package: its tries up to its first success, at speed 1 (a retry follows its failure)
    built: set[str] = set()
    work = 0.0
    for t in tries:
        seconds = t.seconds / slowdown.get(t.drone, 1.0)
        work += seconds
        if t.cpv not in built:
            base[t.cpv] = base.get(t.cpv, 0.0) + seconds
        if t.succeeded:
            built.add(t.cpv)
    base = {cpv: s for cpv, s in base.items() if cpv in built}
    fastest = min((slowdown.get(d, 1.0) for d in slots), default=1.0)
    capacity = sum(n / slowdown.get(d, 1.0) for d, n in slots.items())
    path = critical_path({c: g & base.keys() for c, g in gates.items() if c in base}, {c: s * fastest for c, s in base.items()})
    return Hindsight(path, work / capacity if capacity > 0 else 0.0, makespan)


__all__ = ["Hindsight", "Realized", "hindsight"]
