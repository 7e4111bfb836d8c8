"""The placer as it was before its search was indexed: every slot of every drone compared for each package.

Kept as the reference the indexed :func:`swarm_celery.domain.scheduling.place` must agree
with (``tests/unit/test_placement_property.py``) and as the baseline of ``benchmarks/placement.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swarm_celery.domain.scheduling import OVERRUN, Candidate, DroneCapacity, Placement, priority_order


@dataclass(slots=True)
class _Slot:
    at: float
    idle: bool = False
    gap_until: float | None = None


@dataclass(slots=True)
class _Drone:
    speed: float
    slots: list[_Slot]
    lookahead: int = 0

    @classmethod
    def of(cls, capacity: DroneCapacity, now: float) -> _Drone:
        busy = [_Slot(t if t >= now else now + OVERRUN * (now - t)) for t in sorted(capacity.busy_until)]
        return cls(capacity.speed, [_Slot(now, idle=True) for _ in range(max(0, capacity.free))] + busy, capacity.lookahead)

    @property
    def open(self) -> bool:
        return self.lookahead > 0 or any(s.idle for s in self.slots)

    def earliest(self, release: float, seconds: float, now: float) -> tuple[float, _Slot]:
        def start(slot: _Slot) -> float:
            if slot.gap_until is not None and release <= now and now + seconds <= slot.gap_until:
                return now
            return max(release, slot.at)
        first = min(self.slots, key=start)
        return start(first), first


def _finish_first(cand: Candidate, options: list[str], fleet: Mapping[str, _Drone], now: float) -> tuple[str, float, _Slot]:
    starts = {n: fleet[n].earliest(max(now, cand.not_before), cand.weight * fleet[n].speed, now) for n in options}
    name = min(options, key=lambda n: (starts[n][0] + cand.weight * fleet[n].speed, fleet[n].speed,
                                       -sum(s.idle for s in fleet[n].slots), n))
    return name, *starts[name]


def reference_place(candidates: Iterable[Candidate], drones: Iterable[DroneCapacity], now: float,
                    horizon: float = math.inf) -> Placement:
    fleet = {d.name: _Drone.of(d, now) for d in drones if d.free > 0 or d.busy_until}
    result = Placement()
    for cand in priority_order(candidates):
        if not any(d.open for d in fleet.values()):
            break
        waiting = cand.not_before > now
        options = [n for n in fleet if n not in cand.excluded]
        if not options:
            (result.waiting_backoff if waiting else result.no_drone).append(cand)
            continue
        name, start, slot = _finish_first(cand, options, fleet, now)
        drone = fleet[name]
        finish = start + cand.weight * drone.speed
        if waiting:
            result.waiting_backoff.append(cand)
            if slot.idle and slot.gap_until is None:
                slot.gap_until = start
            slot.at = finish
        elif slot.idle and start <= now:
            result.assignments.append((cand, name))
            slot.at = finish if slot.gap_until is None else slot.at
            slot.idle, slot.gap_until = False, None
        else:
            queue = drone.lookahead > 0 and start - now <= horizon
            (result.assignments if queue else result.held).append((cand, name))
            drone.lookahead -= 1 if queue else 0
            slot.at = finish
    return result
