"""Merge-order FIFO: the baseline the critical-path scheduler is measured against.

What a plain build farm does (and what build-swarm's predecessor did): ready packages in
portage's merge order, each to whichever drone has a free slot, blind to build times and drone
speeds. Only an operator's bump, backoff and the drones that failed a package are respected,
so a comparison isolates the scheduling policy. ``SWARM_SCHEDULER=fifo`` runs the coordinator so.
"""

from __future__ import annotations

from collections.abc import Iterable

from swarm_celery.domain.scheduling import Candidate, DroneCapacity, Placement

POLICIES = ("critical-path", "fifo")


def fifo_place(candidates: Iterable[Candidate], drones: Iterable[DroneCapacity], now: float, horizon: float = 0.0) -> Placement:
    """Merge order; each package to the drone with the most free slots (then room to queue), by name on a tie."""
    del horizon  # FIFO queues behind any busy slot it has room for
    room = {d.name: [d.free, d.lookahead] for d in drones}
    result = Placement()
    for cand in sorted(candidates, key=lambda c: (-c.bump, c.order, c.key)):
        if cand.not_before > now:
            result.waiting_backoff.append(cand)
            continue
        options = [n for n in sorted(room) if n not in cand.excluded and sum(room[n]) > 0]
        if not options:
            if all(n in cand.excluded for n in room):
                result.no_drone.append(cand)
            if not any(sum(r) for r in room.values()):
                break
            continue
        name = max(options, key=lambda n: (room[n][0], room[n][1]))
        room[name][0 if room[name][0] > 0 else 1] -= 1
        result.assignments.append((cand, name))
    return result


__all__ = ["POLICIES", "fifo_place"]
