"""Benchmark: a real plan on the real stack — makespan against the lower bound.

The medium set of the shared tree (resolved by real portage), real Redis, SQLite, a
real coordinator worker and N simulated drone worker processes whose builds sleep
for the shared real build time × 0.01 and write real GPKGs that the coordinator
verifies and publishes. Lower bound: max(critical path, total work / N) of the same
scaled build times. The makespan runs from the first dispatch to the last
publication, so every overhead (messages, database, publishing) counts against us. Each
row is followed by where the time went (``timeline.py``: per-build overheads on the drones
and the critical chain as it really ran).

    .venv/bin/python benchmarks/schedule_real.py [--drones 4,8,16] [--set medium] [--scale 0.01]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plans import SHARED, load_plan
from stack import run_plan
from timeline import breakdown

from swarm_celery.domain.durations import Durations, parse_durations
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.domain.scheduling import critical_path, lower_bound


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drones", default="4,8,16")
    parser.add_argument("--set", default="medium")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--lookahead", type=int, default=0, help="SWARM_LOOKAHEAD for the coordinator (default 0: strict slots)")
    parser.add_argument("--redis", default=os.environ.get("SWARM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    durations_csv = SHARED / "data" / "build-durations.csv"
    prior = Durations(parse_durations(durations_csv.read_text()))
    plan = load_plan(args.set)
    gates = dispatch_gates(plan)
    scaled = {p.cpv: prior.for_cpv(p.cpv) * args.scale for p in plan.packages}
    print(f"{args.set}: {len(plan.packages)} packages; builds = shared real times × {args.scale}: "
          f"work {sum(scaled.values()):.1f} s, critical path {critical_path(gates, scaled):.1f} s")
    print(f"{'drones':>6} | {'makespan s':>10} {'bound s':>8} {'ratio':>6} | verdict")
    missed = False
    for n in (int(x) for x in args.drones.split(",")):
        run = run_plan(plan, n, args.redis, {"SWARM_TIME_SCALE": repr(args.scale), "SWARM_DURATIONS": str(durations_csv),
                                          "SWARM_LOOKAHEAD": str(args.lookahead)})
        if run.published != len(plan.packages):
            raise SystemExit(f"only {run.published} of {len(plan.packages)} packages published")
        bound = lower_bound(gates, scaled, n)
        ratio = run.makespan / bound
        missed |= ratio > 1.05
        print(f"{n:>6} | {run.makespan:>10.2f} {bound:>8.2f} {ratio:>6.3f} | {'ok' if ratio <= 1.05 else 'MISSED (need ≤1.05)'}",
              flush=True)
        print(f"       {breakdown(run.home, args.scale).line()}\n       (run kept in {run.home})", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
