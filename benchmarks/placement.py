"""Benchmark: the cost of one placement decision (``domain.scheduling.place``) on large fleets.

Fleets of 8, 50 and 200 drones with 2 slots each, mostly busy (expected ends from 2 minutes
overdue to 20 minutes ahead, a few free slots), speeds spread 3× as learned speeds are, and a
ready list shaped like a plan's: build times log-normal around a minute with a long tail,
ranks spread over the plan, a few packages in backoff or excluded from a drone. Each call is
placed twice on the same input: by ``place`` and by the straightforward placer it replaced
(``tests/placement_reference.py``, every slot of every drone compared for each package), and
the two must decide the same. Two candidate lists per call:

* ``dispatch`` — what the dispatcher passes: the best ``4 × free slots + 16`` ready packages;
* ``all ready`` — the whole ready list (hundreds to thousands of packages).

Plus a burst: 200 idle drones, 400 free slots and the dispatcher's 1,616 best packages.

    .venv/bin/python benchmarks/placement.py [--calls 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swarm_celery.domain.scheduling import Candidate, DroneCapacity, Placement, place, priority_order  # noqa: E402
from swarm_celery.services.dispatch import CANDIDATES_PER_SLOT  # noqa: E402
from tests.placement_reference import reference_place  # noqa: E402

NOW = 1_000_000.0
Placer = Callable[[Sequence[Candidate], Sequence[DroneCapacity], float], Placement]


def fleet(rng: random.Random, drones: int, free: int, slots: int = 2) -> list[DroneCapacity]:
    """``drones`` drones, ``free`` of their slots free (spread at random), the rest busy."""
    free_at = set(rng.sample(range(drones * slots), min(free, drones * slots)))
    out = []
    for d in range(drones):
        idle = sum((d * slots + s) in free_at for s in range(slots))
        busy = tuple(NOW + rng.uniform(-120.0, 1200.0) for _ in range(slots - idle))
        out.append(DroneCapacity(f"drone{d:03d}", idle, rng.uniform(0.6, 1.8), busy))
    return out


def ready_list(rng: random.Random, count: int, drones: int) -> list[Candidate]:
    """Ready packages: log-normal build times (median 1 min, some hours), 3 % in backoff, 2 % failed on a drone."""
    out = []
    for i in range(count):
        weight = min(4 * 3600.0, rng.lognormvariate(math.log(60.0), 1.5))
        roll = rng.random()
        not_before = NOW + rng.uniform(1.0, 600.0) if roll < 0.03 else 0.0
        excluded = frozenset({f"drone{rng.randrange(drones):03d}"}) if roll < 0.05 else frozenset()
        out.append(Candidate(f"pkg{i}", weight + rng.uniform(0.0, 20_000.0), weight, 0, i, not_before, excluded))
    return out


def timed(placer: Placer, cands: Sequence[Candidate], drones: Sequence[DroneCapacity]) -> tuple[float, Placement]:
    """CPU seconds of one call (the machine may be shared: wall time would count other processes' turns), collector off."""
    gc.disable()
    try:
        start = time.process_time()
        result = placer(cands, drones, NOW)
        return time.process_time() - start, result
    finally:
        gc.enable()


def decisions(p: Placement) -> tuple[object, ...]:
    return ([(c.key, d) for c, d in p.assignments], [(c.key, d) for c, d in p.held],
            [c.key for c in p.waiting_backoff], [c.key for c in p.no_drone])


def compare(cases: Iterable[tuple[list[Candidate], list[DroneCapacity]]]) -> dict[str, list[float]]:
    """Both placers on every case, interleaved; raises if they ever decide differently."""
    times: dict[str, list[float]] = {"old": [], "new": [], "examined": []}
    for cands, drones in cases:
        old_s, old = timed(reference_place, cands, drones)
        new_s, new = timed(place, cands, drones)
        if decisions(old) != decisions(new):
            raise SystemExit("place() and the reference decided differently")
        times["old"].append(old_s)
        times["new"].append(new_s)
        d = decisions(new)
        times["examined"].append(float(sum(len(part) for part in d)))  # type: ignore[arg-type]
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(label: str, t: dict[str, list[float]]) -> str:
    ms = {k: [v * 1000 for v in t[k]] for k in ("old", "new")}
    return (f"{label:<22} {statistics.median(t['examined']):>6.0f} | "
            f"{pct(ms['old'], 0.5):>7.2f} {pct(ms['old'], 0.99):>7.2f} {max(ms['old']):>7.2f} | "
            f"{pct(ms['new'], 0.5):>7.3f} {pct(ms['new'], 0.99):>7.3f} {max(ms['new']):>7.3f} | "
            f"{pct(ms['old'], 0.99) / max(1e-9, pct(ms['new'], 0.99)):>6.0f}×")


def steady_cases(rng: random.Random, drones: int, calls: int, whole: bool) -> Iterator[tuple[list[Candidate], list[DroneCapacity]]]:
    for _ in range(calls):
        free = rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 8, 16])  # one completion frees a slot; a batch of reports, a few
        pool = priority_order(ready_list(rng, rng.choice([300, 1000, 3000]), drones))
        yield (pool if whole else pool[:CANDIDATES_PER_SLOT * free + 16], fleet(rng, drones, free))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="placements per fleet size and candidate list")
    parser.add_argument("--bursts", type=int, default=10, help="bursts of 400 free slots")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print("CPU milliseconds per place() call; old = every slot of every drone per package (the placer this one replaced)")
    print(f"{'fleet × 2 slots, list':<22} {'cands':>6} | {'old p50':>7} {'p99':>7} {'max':>7} | "
          f"{'new p50':>7} {'p99':>7} {'max':>7} | p99 old/new")
    for drones in (8, 50, 200):
        for whole in (False, True):
            label = f"{drones} drones, {'all ready' if whole else 'dispatch'}"
            print(row(label, compare(steady_cases(rng, drones, args.calls, whole))), flush=True)
    bursts = ((priority_order(ready_list(rng, 3000, 200))[:CANDIDATES_PER_SLOT * 400 + 16], fleet(rng, 200, 400))
              for _ in range(args.bursts))
    print(row("burst: 400 free slots", compare(bursts)))
    print("cands: median packages decided on (assigned, held, waiting or with no drone) per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
