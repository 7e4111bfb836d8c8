"""Scheduling policy: which ready package runs next, on which drone, and what a failure leads to.

Pure functions; the coordinator applies them through the store, the benchmark
simulator (``benchmarks/schedule_sim.py``) applies them to a simulated fleet.

* :func:`remaining_paths` — a package's rank is the longest chain of expected
  build time from it to the end of the plan (itself included): critical path first.
* :func:`expected_seconds` — a package's weight: the median of its recorded builds,
  else the durations prior, else the default.
* :func:`drone_speeds` — how much slower (>1) or faster (<1) than the swarm a drone builds.
* :func:`place` — list scheduling: the best-ranked ready package goes where it is
  expected to finish first, among the drones that have not failed it.
* :func:`after_failure` — retry elsewhere with exponential backoff, or block.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.durations import Durations

MIN_SPEED_SAMPLES = 3


def package_key(cpv: str) -> str:
    """``category/package`` of a CPV: what build history and priors are keyed by."""
    try:
        parts = split_cpv(cpv)
    except ValueError:
        return cpv
    return f"{parts.category}/{parts.package}"


def expected_seconds(cpv: str, history: Mapping[str, Sequence[float]], prior: Durations) -> float:
    """Median of this package's recorded builds in the swarm, else the prior table, else its default."""
    recorded = history.get(package_key(cpv))
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
    """Per drone, the median of (actual / expected) build time, relative to the swarm's median.

    ``samples[drone]`` holds (actual seconds, expected seconds) of its finished
    builds. Drones with fewer than ``MIN_SPEED_SAMPLES`` builds count as 1.0.
    """
    ratios = {
        drone: statistics.median(a / e for a, e in pairs if e > 0)
        for drone, pairs in samples.items()
        if sum(1 for _, e in pairs if e > 0) >= MIN_SPEED_SAMPLES
    }
    if not ratios:
        return {}
    swarm = statistics.median(ratios.values())
    return {drone: (r / swarm if swarm > 0 else 1.0) for drone, r in ratios.items()}


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
    speed: float = 1.0  # >1 is slower than the swarm
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


@dataclass(slots=True)
class _Slots:
    speed: float
    free: int
    busy: list[float]
    lookahead: int = 0

    @property
    def open(self) -> bool:
        return self.free > 0 or self.lookahead > 0

    def start(self, now: float) -> float:
        return now if self.free > 0 else max(now, min(self.busy, default=now))


def place(candidates: Iterable[Candidate], drones: Iterable[DroneCapacity], now: float) -> Placement:
    """List scheduling by earliest expected finish.

    In priority order, each package goes to the drone where it is expected to finish
    first. If that drone is busy but frees up soon enough to beat every free one
    (a fast drone for a long package on the critical path), the package is *held* for
    it and claims that slot; packages further down the order take the free drones.
    A drone with ``lookahead`` room gets such a package queued at once instead.
    """
    slots = {d.name: _Slots(d.speed, d.free, sorted(d.busy_until), d.lookahead) for d in drones if d.free > 0 or d.busy_until}
    result = Placement()
    for cand in priority_order(candidates):
        if not any(s.open for s in slots.values()):
            break
        if cand.not_before > now:
            result.waiting_backoff.append(cand)
            continue
        options = [n for n in slots if n not in cand.excluded]
        if not options:
            result.no_drone.append(cand)
            continue
        best = min(options, key=lambda n: (slots[n].start(now) + cand.weight * slots[n].speed, slots[n].speed, -slots[n].free, n))
        chosen = slots[best]
        if chosen.free > 0:
            result.assignments.append((cand, best))
            chosen.free -= 1
            chosen.busy.append(now + cand.weight * chosen.speed)
        else:  # queued behind a busy slot (sent now if the drone has lookahead room, else held)
            (result.assignments if chosen.lookahead > 0 else result.held).append((cand, best))
            chosen.lookahead = max(0, chosen.lookahead - 1)
            chosen.busy[chosen.busy.index(min(chosen.busy))] = chosen.start(now) + cand.weight * chosen.speed
    return result


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
    Infrastructure failures count against the drone only. Either way the retry waits
    ``policy.delay(n)`` and never goes back to a drone that failed it.
    """
    package = [f.drone for f in failures if not f.infrastructure]
    drones = sorted(set(package))
    if len(drones) >= policy.block_after_drones:
        return Block(f"failed on {len(drones)} drones ({', '.join(drones)})")
    if len(package) >= policy.tries:
        return Block(f"failed {len(package)} times (tries: {policy.tries})")
    return Retry(now + policy.delay(len(failures)), frozenset(f.drone for f in failures))


__all__ = [
    "Block", "Candidate", "DroneCapacity", "FailedAttempt", "Placement", "Retry", "RetryPolicy", "after_failure",
    "critical_path", "drone_speeds", "expected_seconds", "lower_bound", "package_key", "place", "priority_order",
    "remaining_paths", "slots_for",
]
