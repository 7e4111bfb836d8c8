"""Benchmark: the scheduling policy alone, in a discrete-event simulation of a fleet building a real plan.

Plans are real (the shared tree resolved by real portage: ``medium`` and the 39-atom
``server`` set); build times are the shared real durations table. For 4, 8, 16 and 32
single-slot drones it reports makespan / lower bound, where the lower bound is
max(critical path on the fastest drone, total work / total fleet speed) — with failures
injected, each package's work includes the partial builds its failures threw away
(the same failures for every policy) — for

* ``ours``  — the coordinator's policy (``domain.scheduling.place``: longest remaining
  path first, where it is expected to finish first — held for a faster drone about to
  free up —, retries elsewhere with backoff, a retry keeping the slot it will want);
* ``fifo``  — merge-order FIFO, what build-swarm-v3 did: ready packages in the order they
  became ready, to whichever drone is free.

Scenarios: ``exact`` durations, and ``chaos``: ±30 % duration noise, a 2× speed spread
across drones and 5 % transient (infrastructure) failures, median over 5 seeds. In
``chaos`` the swarm remembers 5 earlier builds per drone (a fleet's store keeps its
history, so drone speeds are known); ``ours cold`` is the same run with no history,
where speeds are learned during the run. Expected build times are the durations table's
(the fastest drone's), while learned speeds are relative to the swarm's median drone, as
the coordinator's are: the scheduler expects builds to take about a third less time than they do.

    .venv/bin/python benchmarks/schedule_sim.py [--sets medium,server] [--drones 4,8,16,32] [--seeds 5]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plans import SHARED, load_plan

from swarm_celery.domain.durations import Durations, parse_durations
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.domain.scheduling import (
    Candidate,
    DroneCapacity,
    FailedAttempt,
    Retry,
    RetryPolicy,
    after_failure,
    critical_path,
    drone_speeds,
    place,
    remaining_paths,
)


@dataclass(frozen=True)
class Scenario:
    noise: float = 0.0  # ± fraction of a build's duration
    spread: float = 1.0  # slowest drone / fastest drone
    failure_rate: float = 0.0  # per attempt, infrastructure
    seed: int = 0
    history: int = 0  # earlier builds per drone the swarm remembers (its speed is then known)


@dataclass
class Fleet:
    speeds: dict[str, float]  # true slowness per drone (1.0 = fastest)
    free: dict[str, bool] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    busy_until: dict[str, float] = field(default_factory=dict)  # what the scheduler expects, not the truth


Chooser = Callable[[list[Candidate], Fleet, float], list[tuple[Candidate, str]]]


def choose_ours(ready: list[Candidate], fleet: Fleet, now: float) -> list[tuple[Candidate, str]]:
    learned = drone_speeds(fleet.samples)
    drones = [DroneCapacity(n, 1 if free else 0, learned.get(n, 1.0), () if free else (fleet.busy_until[n],))
              for n, free in fleet.free.items()]
    chosen = place(ready, drones, now).assignments
    for cand, drone in chosen:
        fleet.busy_until[drone] = now + cand.weight * learned.get(drone, 1.0)
    return chosen


def choose_fifo(ready: list[Candidate], fleet: Fleet, now: float) -> list[tuple[Candidate, str]]:
    free = [n for n, f in fleet.free.items() if f]
    eligible = sorted((c for c in ready if c.not_before <= now), key=lambda c: (c.rank, c.order))  # rank = time it became ready
    out: list[tuple[Candidate, str]] = []
    for cand in eligible:
        drone = next((n for n in free if n not in cand.excluded), None)
        if drone is not None:
            out.append((cand, drone))
            free.remove(drone)
    return out


@dataclass
class Simulation:
    gates: Mapping[str, frozenset[str]]
    weights: Mapping[str, float]  # expected seconds (what the scheduler knows)
    actual: Mapping[str, float]  # realised seconds on a speed-1.0 drone
    order: Mapping[str, int]
    scenario: Scenario
    chooser: Chooser
    ranks: Mapping[str, float]
    lost: Mapping[tuple[str, int], float] = field(default_factory=dict)  # (package, try) → fraction built before it fails
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def run(self, drones: int) -> float:
        """Makespan of the whole plan on ``drones`` single-slot drones."""
        return _Run(self, self._fleet(drones)).until_done()

    def _fleet(self, drones: int) -> Fleet:
        speeds = [1.0 + (self.scenario.spread - 1.0) * i / max(1, drones - 1) for i in range(drones)]
        random.Random(self.scenario.seed).shuffle(speeds)  # drone names say nothing about speed
        fleet = Fleet({f"d{i:02d}": speed for i, speed in enumerate(speeds)})
        fleet.free = dict.fromkeys(fleet.speeds, True)
        history = random.Random(self.scenario.seed + 1)
        for name, speed in fleet.speeds.items():
            fleet.samples[name] = [(speed * (1.0 + history.uniform(-self.scenario.noise, self.scenario.noise)), 1.0)
                                   for _ in range(self.scenario.history)]
        return fleet


class _Run:
    """One discrete-event run: ready set, events (build ends) and retry wake-ups."""

    def __init__(self, sim: Simulation, fleet: Fleet) -> None:
        self.sim, self.fleet = sim, fleet
        self.waiting = {p: set(g) & set(sim.weights) for p, g in sim.gates.items()}
        self.dependents: dict[str, list[str]] = {}
        for p, needs in self.waiting.items():
            for d in needs:
                self.dependents.setdefault(d, []).append(p)
        self.ready: dict[str, Candidate] = {}
        self.tries: dict[str, int] = {}
        self.failures: dict[str, list[FailedAttempt]] = {}
        self.events: list[tuple[float, int, str, str, bool]] = []
        self.now, self.seq, self.done = 0.0, 0, 0
        for p in sim.weights:
            if not self.waiting.get(p):
                self.make_ready(p)

    def make_ready(self, p: str, not_before: float = 0.0, excluded: frozenset[str] = frozenset()) -> None:
        rank = self.sim.ranks[p] if self.sim.chooser is choose_ours else self.now
        self.ready[p] = Candidate(p, rank, self.sim.weights[p], order=self.sim.order[p], not_before=not_before, excluded=excluded)

    def until_done(self) -> float:
        while self.done < len(self.sim.weights):
            for cand, drone in self.sim.chooser(list(self.ready.values()), self.fleet, self.now):
                self.start(cand.key, drone)
            wakeups = [c.not_before for c in self.ready.values() if c.not_before > self.now]
            if self.events and (not wakeups or self.events[0][0] <= min(wakeups)):
                self.finish(*heapq.heappop(self.events))
            elif wakeups:
                self.now = min(wakeups)
            else:
                raise RuntimeError("simulation stalled: nothing running and nothing ready")
        return self.now

    def start(self, pkg: str, drone: str) -> None:
        del self.ready[pkg]
        self.fleet.free[drone] = False
        seconds = self.sim.actual[pkg] * self.fleet.speeds[drone]
        self.tries[pkg] = self.tries.get(pkg, 0) + 1
        lost = self.sim.lost.get((pkg, self.tries[pkg]))
        self.seq += 1
        heapq.heappush(self.events, (self.now + seconds * (lost if lost is not None else 1.0), self.seq, pkg, drone, lost is None))

    def finish(self, at: float, _seq: int, pkg: str, drone: str, ok: bool) -> None:
        self.now = at
        self.fleet.free[drone] = True
        if not ok:
            self.failures.setdefault(pkg, []).append(FailedAttempt(drone, infrastructure=True))
            decision = after_failure(self.failures[pkg], self.sim.policy, self.now)
            if not isinstance(decision, Retry):
                raise RuntimeError(f"{pkg} blocked in the simulation: {decision.reason}")
            excluded = decision.excluded if len(decision.excluded) < len(self.fleet.speeds) else frozenset()
            self.make_ready(pkg, decision.not_before, excluded)
            return
        self.done += 1
        self.fleet.samples.setdefault(drone, []).append((self.sim.actual[pkg] * self.fleet.speeds[drone], self.sim.weights[pkg]))
        for dep in self.dependents.get(pkg, ()):
            self.waiting[dep].discard(pkg)
            if not self.waiting[dep]:
                self.make_ready(dep)


def inject_failures(actual: Mapping[str, float], rate: float, rng: random.Random) -> dict[tuple[str, int], float]:
    """The same transient failures for every policy: (package, try) → fraction of the build done when it fails."""
    lost: dict[tuple[str, int], float] = {}
    for pkg in sorted(actual):
        attempt = 1
        while rng.random() < rate:
            lost[(pkg, attempt)] = rng.random()
            attempt += 1
    return lost


def realised_work(actual: Mapping[str, float], lost: Mapping[tuple[str, int], float]) -> dict[str, float]:
    """Each package's build time plus the partial builds its injected failures threw away (no scheduler avoids those)."""
    work = dict(actual)
    for (pkg, _), fraction in lost.items():
        work[pkg] += actual[pkg] * fraction
    return work


def lower_bound(gates: Mapping[str, frozenset[str]], actual: Mapping[str, float], spread: float, drones: int) -> float:
    capacity = sum(1.0 / (1.0 + (spread - 1.0) * i / max(1, drones - 1)) for i in range(drones))
    return max(critical_path(gates, actual), sum(actual.values()) / capacity)


def measure(name: str, prior: Durations, drone_counts: list[int], seeds: int, policy: RetryPolicy) -> list[str]:
    plan = load_plan(name)
    gates = dispatch_gates(plan)
    weights = {p.cpv: prior.for_cpv(p.cpv) for p in plan.packages}
    order = {cpv: i for i, cpv in enumerate(plan.merge_order)}
    ranks = remaining_paths(gates, weights)
    rows = [f"\n{name}: {len(weights)} packages, work {sum(weights.values()) / 3600:.1f} h, "
            f"critical path {critical_path(gates, weights) / 3600:.2f} h",
            f"{'drones':>6} | {'exact ours':>10} {'exact fifo':>10} | {'chaos ours':>10} {'chaos fifo':>10} {'ours cold':>10} | verdict"]
    for m in drone_counts:
        exact = {c.__name__: Simulation(gates, weights, weights, order, Scenario(), c, ranks, {}, policy).run(m)
                 for c in (choose_ours, choose_fifo)}
        bound = lower_bound(gates, weights, 1.0, m)
        chaos: dict[str, list[float]] = {"cold": [], "choose_ours": [], "choose_fifo": []}
        for seed in range(seeds):
            scen = Scenario(noise=0.3, spread=2.0, failure_rate=0.05, seed=seed, history=5)
            rng = random.Random(seed)
            actual = {p: w * (1.0 + rng.uniform(-scen.noise, scen.noise)) for p, w in weights.items()}
            lost = inject_failures(actual, scen.failure_rate, rng)
            chaos_bound = lower_bound(gates, realised_work(actual, lost), scen.spread, m)
            for chooser in (choose_ours, choose_fifo):
                sim = Simulation(gates, weights, actual, order, scen, chooser, ranks, lost, policy)
                chaos[chooser.__name__].append(sim.run(m) / chaos_bound)
            cold = Simulation(gates, weights, actual, order, replace(scen, history=0), choose_ours, ranks, lost, policy)
            chaos["cold"].append(cold.run(m) / chaos_bound)
        e_ours, e_fifo = exact["choose_ours"] / bound, exact["choose_fifo"] / bound
        c_ours, c_fifo = statistics.median(chaos["choose_ours"]), statistics.median(chaos["choose_fifo"])
        c_cold = statistics.median(chaos["cold"])
        verdict = "ok" if e_ours <= 1.02 and c_ours <= 1.15 else "MISSED (need ≤1.02 exact, ≤1.15 chaos)"
        rows.append(f"{m:>6} | {e_ours:>10.3f} {e_fifo:>10.3f} | {c_ours:>10.3f} {c_fifo:>10.3f} {c_cold:>10.3f} | {verdict}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="medium,server")
    parser.add_argument("--drones", default="4,8,16,32")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--durations", type=Path, default=SHARED / "data" / "build-durations.csv")
    args = parser.parse_args()
    prior = Durations(parse_durations(args.durations.read_text()))
    counts = [int(n) for n in args.drones.split(",")]
    lines = ["makespan / lower bound (lower is better; 1.000 is optimal); chaos = ±30 % noise, 2× speed spread, "
             f"5 % transient failures, median of {args.seeds} seeds"]
    for name in args.sets.split(","):
        lines += measure(name, prior, counts, args.seeds, RetryPolicy())
    print("\n".join(lines))
    return 1 if any("MISSED" in line for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
