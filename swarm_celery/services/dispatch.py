"""Dispatch: place ready packages on drones with free slots, critical path first.

The coordinator is the scheduler: every package goes to one drone's own queue
(``drone.<name>``), never more than the drone has free slots, so nothing waits in a
drone's prefetch while another drone idles. Placement is the pure policy in
:func:`swarm_celery.domain.scheduling.place`; this service feeds it from the store
(ready packages, drone loads, learned speeds) and applies its decisions.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from swarm_celery.domain.controls import PAUSED_FLAG
from swarm_celery.domain.model import BuildRequest, drone_queue
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import DroneLoad, NewAttempt, ReadyPackage
from swarm_celery.domain.scheduling import (
    MIN_PACE_SAMPLES,
    Candidate,
    DroneCapacity,
    Placement,
    drone_speeds,
    place,
    swarm_pace,
)
from swarm_celery.ports import Broker, Clock, DispatchStore

log = logging.getLogger(__name__)

CANDIDATES_PER_SLOT = 4  # ready packages looked at per open slot (the best by priority and rank; more only when many wait out a backoff)
SPEED_REFRESH = 5.0  # seconds between recomputing drone speeds from the build history


@dataclass(frozen=True)
class Learned:
    pace: float  # wall seconds per expected second, swarm-wide (domain.scheduling.swarm_pace)
    speeds: dict[str, float]  # per drone, relative to the swarm (domain.scheduling.drone_speeds)
    settled: bool  # the pace comes from enough builds (until then it is looked at again on every dispatch)


class Dispatcher:
    def __init__(self, store: DispatchStore, broker: Broker, clock: Clock, config: SchedulerConfig) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self.config = config
        self._learned: dict[str, tuple[float, Learned]] = {}  # arch → (computed at, what was learned)

    def learned(self, arch: str, now: float) -> Learned:
        """The swarm's pace and the drones' speeds; they move slowly, so they are recomputed every SPEED_REFRESH seconds
        (the pace on every dispatch until enough builds finished: a fresh swarm learns its clock within seconds)."""
        cached = self._learned.get(arch)
        if cached is None or now - cached[0] > SPEED_REFRESH:
            cached = (now, Learned(1.0, drone_speeds(self.store.speed_samples(arch)), False))
        if not cached[1].settled:
            samples = self.store.pace_samples(arch)
            cached = (cached[0], Learned(swarm_pace(samples), cached[1].speeds, len(samples) >= MIN_PACE_SAMPLES))
        self._learned[arch] = cached
        return cached[1]

    def capacities(self, arch: str, now: float) -> list[DroneCapacity]:
        """Drones of ``arch`` that may take work now, with free slots and expected finish (wall clock) of what they run."""
        learned = self.learned(arch, now)
        return [self._capacity(d, learned.pace * learned.speeds.get(d.name, 1.0), self.config.lookahead)
                for d in self.store.drone_loads(arch) if self.available(d, now)]

    def available(self, drone: DroneLoad, now: float) -> bool:
        return not self.config.unavailable(drone, now)

    @staticmethod
    def _capacity(drone: DroneLoad, seconds_per_expected: float, lookahead: int) -> DroneCapacity:
        """Free slots, when the busy ones should free up, and room to queue behind them."""
        builds = sorted(drone.running)  # (started or dispatched at, expected seconds); the oldest are running
        slots = max(1, drone.slots)
        busy = [start + expected * seconds_per_expected for start, expected in builds[:slots]]
        for _, expected in builds[slots:]:  # queued behind: each extends the slot that frees first
            first = busy.index(min(busy))
            busy[first] += expected * seconds_per_expected
        room = max(0, lookahead - max(0, len(builds) - slots))
        return DroneCapacity(drone.name, max(0, slots - len(builds)), seconds_per_expected, tuple(busy), room)

    def dispatch(self, arch: str) -> int:
        """Send as many ready packages as there are free slots; returns how many were sent."""
        if self.store.get_flag(PAUSED_FLAG):
            return 0
        now = self.clock.now()
        drones = self.capacities(arch, now)
        if not any(d.free or d.lookahead for d in drones):
            return 0
        room = sum(d.free + d.lookahead for d in drones)
        ready = {str(r.id): r for r in self.store.ready_packages(arch, limit=CANDIDATES_PER_SLOT * room + 16)}
        placement = place((_candidate(r) for r in ready.values()), drones, now, self.config.lookahead_horizon)  # wall clock
        order = {r.id: i for i, r in enumerate(sorted(ready.values(), key=lambda r: -r.rank))}
        self._send([(ready[cand.key], drone) for cand, drone in placement.assignments], arch, order)
        self._wake_for_backoff(arch, placement, now)
        return len(placement.assignments)

    def _send(self, placed: list[tuple[ReadyPackage, str]], arch: str, order: dict[int, int]) -> None:
        """Record every attempt in one transaction, then send them: a fast report always finds its attempt."""
        attempts = [NewAttempt(uuid.uuid4().hex, pkg.id, drone_queue(drone), drone, pkg.expected) for pkg, drone in placed]
        self.store.create_attempts(attempts)
        self.broker.send_builds([
            (BuildRequest(new.attempt_id, pkg.session_id, pkg.cpv, arch, pkg.slot, pkg.repo, pkg.use,
                          urgency(order[pkg.id], len(order))), new.queue)
            for new, (pkg, _) in zip(attempts, placed, strict=True)])
        for pkg, drone in placed:
            log.debug("%s → %s (rank %.0f s)", pkg.cpv, drone, pkg.rank)

    def _wake_for_backoff(self, arch: str, placement: Placement, now: float) -> None:
        waits = [c.not_before for c in placement.waiting_backoff if c.not_before > now]
        if waits:
            self.broker.wake(arch, min(waits) - now)


def urgency(position: int, ready: int) -> int:
    """0 for the ready package with the longest remaining path, rising to 9 down the ranking.

    The drone reports this build's completion at this broker priority, so the coordinator
    handles completions on the critical path before the others when many arrive at once.
    """
    if ready <= 1:
        return 0
    return min(9, 10 * position // ready)


def _candidate(pkg: ReadyPackage) -> Candidate:
    return Candidate(str(pkg.id), pkg.rank, pkg.expected, pkg.priority, pkg.merge_index, pkg.not_before, pkg.failed_on)


__all__ = ["PAUSED_FLAG", "Dispatcher"]
