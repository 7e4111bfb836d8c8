"""Scheduling policy: which ready package runs next, on which drone, and what a failure leads to.

Pure functions; the coordinator applies them through the store, the benchmark
simulator (``benchmarks/schedule_sim.py``) applies them to a simulated fleet.

* :func:`remaining_paths` — a package's rank is the longest chain of expected
  build time from it to the end of the plan (itself included): critical path first.
* :func:`expected_seconds` — a package's weight: the median of its recorded builds,
  else the durations prior, else the default.
* :func:`drone_speeds` — how much slower (>1) or faster (<1) than the swarm a drone builds.
* :func:`swarm_pace` — wall seconds per expected second: turns the weights (the durations
  table's seconds, measured on some other machine) into this fleet's clock.
* :func:`place` — list scheduling: the best-ranked ready package goes where it is
  expected to finish first, among the drones that have not failed it; a package in
  backoff keeps the slot it will want.
* :func:`after_failure` — retry elsewhere with exponential backoff, or block.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.placer import Choice, Fleet

MIN_SPEED_SAMPLES = 3
MIN_PACE_SAMPLES = 5
SPEED_OUTLIER = 2.0  # a build this many times off its drone's median ratio says nothing about the drone's speed
OVERRUN = 0.25  # a build past its expected end is taken to need another quarter of the time it has overrun
MAX_SPREAD = 1.0  # builds straying more than this (log) spread are no longer told apart
MAD_TO_SIGMA = 1.4826  # median absolute deviation → standard deviation, for normally distributed logs


def history_key(cpv: str) -> str:
    """``category/package`` of a CPV: what build history and priors are keyed by."""
    try:
        parts = split_cpv(cpv)
    except ValueError:
        return cpv
    return f"{parts.category}/{parts.package}"


def expected_seconds(cpv: str, history: Mapping[str, Sequence[float]], prior: Durations) -> float:
    """Median of this package's recorded builds in the swarm, else the prior table, else its default."""
    recorded = history.get(history_key(cpv))
    if recorded:
        return float(statistics.median(recorded))
    return prior.for_cpv(cpv)


def remaining_paths(gates: Mapping[str, frozenset[str]], weights: Mapping[str, float]) -> dict[str, float]:
    """For each package: its weight plus the longest weighted chain of packages that wait for it.

    ``gates[p]`` are the packages ``p`` waits for. Packages in ``weights`` but not
    in ``gates`` wait for nothing. Gates must form a DAG (the plan guarantees it).
    """
    dependents: dict[str, list[str]] = {cpv: [] for cpv in weights}
    pending = {cpv: 0 for cpv in weights}
    for cpv, needs in gates.items():
        for dep in needs:
            if dep in dependents and cpv in pending:
                dependents[dep].append(cpv)
                pending[dep] += 1
    # Kahn from the sinks (packages nobody waits for) back to the roots.
    order = [cpv for cpv, n in pending.items() if n == 0]
    rank: dict[str, float] = {}
    reverse_gates: dict[str, list[str]] = {cpv: [d for d in gates.get(cpv, ()) if d in pending] for cpv in weights}
    while order:
        cpv = order.pop()
        rank[cpv] = weights[cpv] + max((rank[d] for d in dependents[cpv]), default=0.0)
        for dep in reverse_gates[cpv]:
            pending[dep] -= 1
            if pending[dep] == 0:
                order.append(dep)
    if len(rank) != len(weights):
        raise ValueError("the gates contain a cycle; a plan's gates must form a DAG")
    return rank


def critical_path(gates: Mapping[str, frozenset[str]], weights: Mapping[str, float]) -> float:
    """Length of the longest weighted chain: no schedule can finish sooner."""
    return max(remaining_paths(gates, weights).values(), default=0.0)


def lower_bound(gates: Mapping[str, frozenset[str]], weights: Mapping[str, float], slots: int) -> float:
    """max(critical path, total work / slots): the bound makespans are measured against."""
    return max(critical_path(gates, weights), sum(weights.values()) / max(1, slots))


def drone_speeds(samples: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, float]:
    """Per drone, its typical (actual / expected) build time, relative to the swarm's median.

    ``samples[drone]`` holds (actual seconds, expected seconds) of its finished
    builds. Drones with fewer than ``MIN_SPEED_SAMPLES`` builds count as 1.0.
    """
    ratios = {
        drone: _typical_ratio([a / e for a, e in pairs if e > 0])
        for drone, pairs in samples.items()
        if sum(1 for _, e in pairs if e > 0) >= MIN_SPEED_SAMPLES
    }
    if not ratios:
        return {}
    swarm = statistics.median(ratios.values())
    return {drone: (r / swarm if swarm > 0 else 1.0) for drone, r in ratios.items()}


def swarm_pace(samples: Iterable[tuple[float, float]]) -> float:
    """The swarm's median of (wall seconds / expected seconds) over recent builds; 1.0 until ``MIN_PACE_SAMPLES``.

    Expected seconds come from this swarm's own history or from a table measured elsewhere;
    a fleet of small guests builds slower than that table, a simulation at ``time_scale``
    faster. Placement compares a busy drone's expected end with *now*, so it needs both on
    the wall clock: weights × pace × the drone's speed.
    """
    ratios = [wall / expected for wall, expected in samples if expected > 0 and wall > 0]
    return statistics.median(ratios) if len(ratios) >= MIN_PACE_SAMPLES else 1.0


def swarm_spread(samples: Mapping[str, Sequence[tuple[float, float]]]) -> float:
    """How far builds stray from their expected time once their drone's speed is taken out: a robust standard deviation
    of log(actual / expected) around each drone's median (0.3: typically ±30 %). 0 until ``MIN_PACE_SAMPLES`` such builds.

    The durations table is a median from other machines; a build's own time is not known until it ends. The
    spread says how long a build that has reached its expected end may still run (:func:`busy_until`).
    """
    deviations: list[float] = []
    for pairs in samples.values():
        logs = [math.log(a / e) for a, e in pairs if a > 0 and e > 0]
        if len(logs) >= MIN_SPEED_SAMPLES:
            mid = statistics.median(logs)
            deviations += [abs(x - mid) for x in logs]
    if len(deviations) < MIN_PACE_SAMPLES:
        return 0.0
    return min(MAX_SPREAD, MAD_TO_SIGMA * statistics.median(deviations))


def busy_until(start: float, seconds: float, now: float, spread: float) -> float:
    """When a build started at ``start``, expected to take ``seconds`` (wall), should end as seen at ``now``.

    Its expected end, but once it nears or passes that, no sooner than ``spread`` × ``seconds`` from now (a build
    that has run about its expected time is as likely to run on a while as to end now: the residual time of a
    log-normal build time), nor than ``OVERRUN`` × how far it has overrun.
    """
    end = start + seconds
    return max(end, now + max(spread * seconds, OVERRUN * max(0.0, now - end)))


def _typical_ratio(ratios: list[float]) -> float:
    """The mean of the ratios within ``SPEED_OUTLIER``× of their median.

    The mean is steadier than the median for the usual ± noise of build times (a median
    of n ratios is only as steady as a mean of n/3 with uniform noise, 2n/3 with normal),
    and the band keeps a hung or cache-cold build from dragging it.
    """
    mid = statistics.median(ratios)
    kept = [r for r in ratios if mid / SPEED_OUTLIER <= r <= mid * SPEED_OUTLIER]
    return statistics.fmean(kept) if kept else mid


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ready package as the placer sees it."""

    key: str  # unique: the package id as text, or the CPV in the simulator
    rank: float  # remaining path (seconds): higher runs first
    weight: float = 0.0  # expected build seconds on a drone of speed 1.0
    bump: int = 0  # an operator's priority: higher beats any rank
    order: int = 0  # merge index: portage's order breaks ties
    not_before: float = 0.0  # backoff: not before this time
    excluded: frozenset[str] = frozenset()  # drones that failed it


@dataclass(frozen=True, slots=True)
class DroneCapacity:
    """A drone that may take work: its free slots now, and when its busy slots should free up."""

    name: str
    free: int  # slots minus builds in flight
    speed: float = 1.0  # wall seconds per expected second here: the swarm's pace × the drone's speed (>1 slower)
    busy_until: tuple[float, ...] = ()  # expected finish of each build in flight
    lookahead: int = 0  # builds it may queue behind busy slots (0: never more in flight than slots)


def priority_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Operator bump first, then longest remaining path, then portage's merge order."""
    return sorted(candidates, key=lambda c: (-c.bump, -c.rank, c.order, c.key))


@dataclass(slots=True)
class Placement:
    assignments: list[tuple[Candidate, str]] = field(default_factory=list)
    held: list[tuple[Candidate, str]] = field(default_factory=list)  # waits for a faster drone about to free up
    waiting_backoff: list[Candidate] = field(default_factory=list)
    no_drone: list[Candidate] = field(default_factory=list)  # every drone that could take it has failed it


def place(candidates: Iterable[Candidate], drones: Iterable[DroneCapacity], now: float, horizon: float = math.inf) -> Placement:
    """List scheduling by earliest expected finish.

    In priority order, each package goes to the drone where it is expected to finish
    first. If that drone is busy but frees up soon enough to beat every free one
    (a fast drone for a long package on the critical path), the package is *held* for
    it and claims that slot; packages further down the order take the free drones.
    A drone with ``lookahead`` room gets such a package queued at once instead, if that slot
    should free within ``horizon`` seconds: queueing hides the round trip between one build
    and the next, but a package queued behind a longer build is bound to that drone even if
    another frees up first, while a held one is placed again at the next event.
    A package in backoff claims, the same way, the slot it will want when its backoff
    ends: lower-ranked packages use that slot only if they are expected to end by then.
    A build past its expected end is expected to run on for ``OVERRUN`` × its overrun.

    The search for the drone is indexed (``domain.placer``): each package costs a look at a
    few drones, not at every slot of the fleet, and the decisions are the same.
    """
    fleet = Fleet.of(drones, now, OVERRUN)
    result = Placement()
    for cand in priority_order(candidates):
        if not fleet.open:
            break
        waiting = cand.not_before > now
        choice = fleet.finish_first(cand.weight, max(now, cand.not_before), cand.excluded) \
            if fleet.any_for(cand.excluded) else None
        if choice is None:
            (result.waiting_backoff if waiting else result.no_drone).append(cand)
            continue
        drone = choice[1]
        entry, was_open = drone.entry, drone.open
        _apply(result, cand, choice, now, horizon)
        fleet.changed(drone, entry, was_open)
    return result


def _apply(result: Placement, cand: Candidate, choice: Choice, now: float, horizon: float) -> None:
    """Record the decision for ``cand`` and let its slot (and its drone's look-ahead room) reflect it."""
    _, drone, start, slot = choice
    finish = start + cand.weight * drone.speed
    if cand.not_before > now:  # promised: idle until its backoff ends, or behind what runs there
        result.waiting_backoff.append(cand)
        if slot.idle and slot.gap_until is None:
            slot.gap_until = start
        slot.at = finish
    elif slot.idle and start <= now:  # a free slot, or the gap before a promise (which stands)
        result.assignments.append((cand, drone.name))
        slot.at = finish if slot.gap_until is None else slot.at
        slot.idle, slot.gap_until = False, None
    else:  # behind a busy slot: queued there now if the drone has look-ahead room and the slot frees soon, else held
        queue = drone.lookahead > 0 and start - now <= horizon
        (result.assignments if queue else result.held).append((cand, drone.name))
        drone.lookahead -= 1 if queue else 0
        slot.at = finish


def slots_for(cores: int, cores_per_slot: int, core_limit: int = 0, configured: int = 0) -> int:
    """A drone's concurrent builds: configured, else usable cores // cores per slot, at least 1."""
    if configured > 0:
        return configured
    usable = min(cores, core_limit) if core_limit > 0 else cores
    return max(1, usable // max(1, cores_per_slot))


# failures -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    tries: int = 3  # attempts in all, the first included
    backoff: float = 60.0  # seconds before the first retry
    factor: float = 3.0  # each further retry waits factor times longer
    block_after_drones: int = 2  # package failures on this many distinct drones block it

    def delay(self, failures: int) -> float:
        """Wait before the retry that follows the ``failures``-th failure (1 → backoff)."""
        return self.backoff * self.factor ** max(0, failures - 1)


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    drone: str
    infrastructure: bool


@dataclass(frozen=True, slots=True)
class Retry:
    not_before: float
    excluded: frozenset[str]


@dataclass(frozen=True, slots=True)
class Block:
    reason: str


def after_failure(failures: Sequence[FailedAttempt], policy: RetryPolicy, now: float) -> Retry | Block:
    """What a package's failures (oldest first, the latest included) lead to.

    Package failures (compile, test, ...) count against the package: on
    ``block_after_drones`` distinct drones, or ``tries`` of them in all, it is blocked.
    Infrastructure failures count against the drone only. The retry never goes back to a
    drone that failed it, and waits ``policy.delay(n)`` — except after a first failure that was
    the infrastructure's (a fetch that timed out, a full disk): that says nothing against
    building it elsewhere at once, and waiting would put a package on the critical path behind.
    """
    package = [f.drone for f in failures if not f.infrastructure]
    drones = sorted(set(package))
    if len(drones) >= policy.block_after_drones:
        return Block(f"failed on {len(drones)} drones ({', '.join(drones)})")
    if len(package) >= policy.tries:
        return Block(f"failed {len(package)} times (tries: {policy.tries})")
    wait = 0.0 if len(failures) == 1 and failures[0].infrastructure else policy.delay(len(failures))
    return Retry(now + wait, frozenset(f.drone for f in failures))


__all__ = [
    "Block",
    "Candidate",
    "DroneCapacity",
    "FailedAttempt",
    "Placement",
    "Retry",
    "RetryPolicy",
    "after_failure",
    "busy_until",
    "critical_path",
    "drone_speeds",
    "expected_seconds",
    "history_key",
    "lower_bound",
    "place",
    "priority_order",
    "remaining_paths",
    "slots_for",
    "swarm_pace",
    "swarm_spread",
]
