"""Dispatch: place ready packages on drones with free slots, critical path first.

The coordinator is the scheduler: every package goes to one drone's own queue
(``drone.<name>``), never more than the drone has free slots, so nothing waits in a
drone's prefetch while another drone idles. Placement is the pure policy in
:func:`swarm_celery.domain.scheduling.place`; this service feeds it from the store
(ready packages, drone loads, learned speeds) and applies its decisions.

Whether builds are real is the session's kind (the coordinator's say): a real session's
packages go only to drones that announced the ``emerge`` builder, a simulated session's
only to simulating drones. Each real build carries its plan's configuration hash; the
configuration itself is made available to the drones (:class:`~swarm_celery.ports.BuildConfigs`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.controls import PAUSED_FLAG
from swarm_celery.domain.fifo import fifo_place
from swarm_celery.domain.migration import calibrating, may_move, moves
from swarm_celery.domain.model import BuildRequest, PackageState, drone_queue
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import DroneLoad, NewAttempt, ReadyPackage
from swarm_celery.domain.scheduling import (
    MIN_PACE_SAMPLES,
    Candidate,
    DroneCapacity,
    Placement,
    busy_until,
    drone_speeds,
    place,
    swarm_pace,
    swarm_spread,
)
from swarm_celery.ports import Broker, BuildConfigs, Clock, DispatchStore

log = logging.getLogger(__name__)

CANDIDATES_PER_SLOT = 4  # ready packages looked at per open slot (the best by priority and rank; more only when many wait out a backoff)
SPEED_REFRESH = 5.0  # seconds between recomputing drone speeds from the build history
SPEED_REFRESH_COLD = 0.5  # ... while a drone's speed is not known yet (it gets short builds until it is: domain.migration)
HELD_RECHECK = 2.0  # at most this long, a placement that sent nothing stands while nothing it looked at changes
REAL_BUILDER = "emerge"  # what a drone that builds for real announces (DroneIdentity.builder); any other builds simulated sessions


@dataclass(frozen=True)
class SessionWork:
    """What every build of a session is sent with: its kind, and (real builds) its plan's configuration hash."""

    simulated: bool
    config_hash: str


@dataclass(frozen=True)
class Learned:
    pace: float  # wall seconds per expected second, swarm-wide (domain.scheduling.swarm_pace)
    speeds: dict[str, float]  # per drone, relative to the swarm (domain.scheduling.drone_speeds)
    settled: bool  # the pace comes from enough builds (until then it is looked at again on every dispatch)
    spread: float = 0.0  # how far builds stray from their expected time (domain.scheduling.swarm_spread)


class Dispatcher:
    def __init__(self, store: DispatchStore, broker: Broker, clock: Clock, config: SchedulerConfig,
                 configs: BuildConfigs | None = None) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self.config = config
        self.configs = configs  # None: real builds carry no configuration (the drones build with their own)
        self._learned: dict[str, tuple[float, Learned]] = {}  # arch → (computed at, what was learned)
        self._unknown: dict[str, frozenset[tuple[str, object]]] = {}  # arch → what the drones of unknown speed ran then
        self._work: dict[str, SessionWork] = {}  # session id → kind and configuration (neither changes once it runs)
        self._moved: set[int] = set()  # packages taken back once to run on a faster drone (never twice)
        self._unsent: dict[tuple[str, bool], Unsent] = {}  # (arch, simulated) → the last placement, if it sent nothing

    def learned(self, arch: str, now: float, loads: Iterable[DroneLoad] = ()) -> Learned:
        """The swarm's pace and the drones' speeds; they move slowly, so they are recomputed every SPEED_REFRESH seconds
        (the pace on every dispatch until enough builds finished: a fresh swarm learns its clock within seconds; the speeds
        up to every SPEED_REFRESH_COLD seconds when a drone of ``loads`` that has not shown its speed yet has finished a
        build since: what it runs has changed)."""
        cached, loads = self._learned.get(arch), list(loads)
        cold = cached is not None and now - cached[0] > SPEED_REFRESH_COLD and _unknown(loads, cached[1]) != self._unknown.get(arch)
        if cached is None or now - cached[0] > SPEED_REFRESH or cold:
            samples = self.store.speed_samples(arch)
            cached = (now, Learned(1.0, drone_speeds(samples), False, swarm_spread(samples)))
            self._unknown[arch] = _unknown(loads, cached[1])
        if not cached[1].settled:
            pace = self.store.pace_samples(arch)
            cached = (cached[0], replace(cached[1], pace=swarm_pace(pace), settled=len(pace) >= MIN_PACE_SAMPLES))
        self._learned[arch] = cached
        return cached[1]

    def capacities(self, arch: str, now: float, simulated: bool | None = None) -> list[DroneCapacity]:
        """Drones of ``arch`` that may take work now (of sessions of that kind, when ``simulated`` is given), with free
        slots and expected finish (wall clock) of what they run."""
        return self._capacities(arch, now, self.store.drone_loads(arch), simulated)

    def _capacities(self, arch: str, now: float, loads: list[DroneLoad], simulated: bool | None) -> list[DroneCapacity]:
        learned = self.learned(arch, now, loads)
        return [self._capacity(d, learned.pace * learned.speeds.get(d.name, 1.0), self.config.lookahead, now, learned.spread)
                for d in loads if self.available(d, now) and simulated in (None, d.builder != REAL_BUILDER)]

    def work(self, session_id: str) -> SessionWork:
        """The session's kind and configuration hash (its configuration published for the drones on first use)."""
        known = self._work.get(session_id)
        if known is None:
            session = self.store.get_session(session_id)
            simulated = session is None or session.simulated
            config_hash = ""
            if session is not None and not simulated and self.configs is not None:
                config_hash = self.configs.publish(ResolveRequest.from_json(json.loads(session.request_json)))
            known = self._work[session_id] = SessionWork(simulated, config_hash)
        return known

    def available(self, drone: DroneLoad, now: float) -> bool:
        return not self.config.unavailable(drone, now)

    @staticmethod
    def _capacity(drone: DroneLoad, seconds_per_expected: float, lookahead: int, now: float, spread: float) -> DroneCapacity:
        """Free slots, when the busy ones should free up (domain.scheduling.busy_until), and room to queue behind them."""
        builds = sorted(drone.running)  # (started or dispatched at, expected seconds); the oldest are running
        slots = max(1, drone.slots)
        busy = [busy_until(start, expected * seconds_per_expected, now, spread) for start, expected in builds[:slots]]
        for _, expected in builds[slots:]:  # queued behind: each extends the slot that frees first
            first = busy.index(min(busy))
            busy[first] += expected * seconds_per_expected
        room = max(0, lookahead - max(0, len(builds) - slots))
        return DroneCapacity(drone.name, max(0, slots - len(builds)), seconds_per_expected, tuple(busy), room)

    def dispatch(self, arch: str) -> int:
        """Send as many ready packages as there are free slots (each to a drone of its session's kind); how many were sent."""
        if self.store.get_flag(PAUSED_FLAG):
            return 0
        now = self.clock.now()
        loads = self.store.drone_loads(arch)
        pools = {simulated: self._capacities(arch, now, loads, simulated) for simulated in (False, True)}
        room = sum(d.free + d.lookahead for drones in pools.values() for d in drones)
        if not room:
            return 0
        fifo = self.config.policy == "fifo"  # a baseline: every ready package, merge order first
        ready = {str(r.id): r for r in self.store.ready_packages(arch, limit=None if fifo else CANDIDATES_PER_SLOT * room + 16)}
        order = {r.id: i for i, r in enumerate(sorted(ready.values(), key=lambda r: -r.rank))}
        sent = 0
        for simulated, drones in pools.items():
            mine = [r for r in ready.values() if self.work(r.session_id).simulated == simulated]
            if not mine or not any(d.free or d.lookahead for d in drones):
                continue
            candidates = [_candidate(r) for r in mine]
            if fifo:
                placement = fifo_place(candidates, drones, now)
            else:
                known = frozenset(self.learned(arch, now).speeds)
                placement = self._place((arch, simulated), calibrating(candidates, drones, known), drones, now)
            self._send([(ready[cand.key], drone) for cand, drone in placement.assignments], arch, order)
            self._wake_for_backoff(arch, placement, now)
            sent += len(placement.assignments)
            if not fifo and self._move(arch, drones, placement, now):
                return sent + self.dispatch(arch)  # what was taken back is placed on the idle drones now
        return sent

    def _move(self, arch: str, drones: list[DroneCapacity], placement: Placement, now: float) -> int:
        """Take back builds expected to end clearly sooner on a faster drone that nothing ready can use (domain.migration)."""
        taken = Counter(name for _, name in placement.assignments)
        idle = {d.name: d.free - taken[d.name] for d in drones if d.free > taken[d.name]}
        if not idle:
            return 0
        learned = self.learned(arch, now)
        if not may_move(drones, idle, frozenset(learned.speeds), learned.spread):
            return 0
        speed = {d.name: d.speed for d in drones}
        found = moves(self.store.running_builds(arch), idle, speed, frozenset(learned.speeds), now, learned.spread,
                      frozenset(self._moved))
        if not found:
            return 0
        attempts = [m.build.attempt for m in found]
        self.broker.revoke(attempts)
        self.store.fence_attempts(attempts, PackageState.NEEDED, "moved to a faster idle drone")
        for m in found:
            self._moved.add(m.build.package)
            self.store.add_event("package.moved", f"{m.build.cpv}: taken back from {m.source} to build on the idle {m.target}, "
                                 f"expected {m.gain:.0f} s sooner", m.build.session, m.build.cpv)
        return len(found)

    def _place(self, pool: tuple[str, bool], candidates: list[Candidate], drones: list[DroneCapacity], now: float) -> Placement:
        """:func:`place` (on the wall clock); but while the ready packages and the drones are those of a placement that
        sent nothing, that one stands: held packages are looked at again once something changes — a completion, a
        drone coming, going or being heard running something else, a backoff ending, a build passing its expected
        end — or after ``HELD_RECHECK`` seconds (an overrunning build's expected end moves with the clock)."""
        inputs = (tuple(candidates), tuple(drones))
        last = self._unsent.get(pool)
        if last is not None and now < last.until and last.inputs == inputs:
            return last.placement
        placement = place(candidates, drones, now, self.config.lookahead_horizon)
        if placement.assignments or any(d.lookahead > 0 for d in drones):  # look-ahead room: a held one may queue as time passes
            self._unsent.pop(pool, None)
        else:
            self._unsent[pool] = Unsent(inputs, placement, _steady_until(candidates, drones, now))
        return placement

    def _send(self, placed: list[tuple[ReadyPackage, str]], arch: str, order: dict[int, int]) -> None:
        """Record every attempt in one transaction, then send them: a fast report always finds its attempt."""
        if not placed:
            return
        attempts = [NewAttempt(uuid.uuid4().hex, pkg.id, drone_queue(drone), drone, pkg.expected) for pkg, drone in placed]
        self.store.create_attempts(attempts)
        self.broker.send_builds([
            (BuildRequest(new.attempt_id, pkg.session_id, pkg.cpv, arch, pkg.slot, pkg.repo, pkg.use,
                          urgency(order[pkg.id], len(order)), self.work(pkg.session_id).config_hash,
                          len(pkg.failed_on)), new.queue)
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


@dataclass(frozen=True)
class Unsent:
    """A placement that sent nothing, what it was made of, and until when it stands if that stays the same."""

    inputs: tuple[tuple[Candidate, ...], tuple[DroneCapacity, ...]]
    placement: Placement
    until: float


def _steady_until(candidates: list[Candidate], drones: list[DroneCapacity], now: float) -> float:
    """The first time placing the same packages on the same drones may decide otherwise: a backoff ends, a build
    reaches its expected end (from then on it is expected to overrun), or ``HELD_RECHECK`` seconds pass."""
    backoffs = [c.not_before for c in candidates if c.not_before > now]
    return min([now + HELD_RECHECK, *backoffs, *(t for d in drones for t in d.busy_until if t >= now)])


def _unknown(loads: list[DroneLoad], learned: Learned) -> frozenset[tuple[str, object]]:
    """The drones whose speed is not known, with what they run (it changes when one finishes a build)."""
    return frozenset((d.name, d.running) for d in loads if d.name not in learned.speeds)


def _candidate(pkg: ReadyPackage) -> Candidate:
    return Candidate(str(pkg.id), pkg.rank, pkg.expected, pkg.priority, pkg.merge_index, pkg.not_before, pkg.failed_on)


__all__ = ["PAUSED_FLAG", "Dispatcher"]
