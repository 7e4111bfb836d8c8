"""Benchmark: scheduling under real conditions, on the real stack — makespan against the hindsight lower bound.

The medium set of the shared tree (resolved by real portage), real Redis, SQLite, a real
coordinator worker and N simulated drone worker processes. The simulation is wrong the way a
real fleet is: each package takes its table time × a log-normal factor (``--noise``) × a bias
the scheduler is not told (``--bias``), drones differ in speed (spread ``--spread``× from the
slowest to the fastest, unknown to the scheduler), and ``--transient`` of the packages fail
their first try as an infrastructure failure. Every draw comes from the seed, so the
critical-path scheduler and the merge-order FIFO baseline (``SWARM_SCHEDULER=fifo``) face the
same world in the same run. Each run is judged in hindsight from its record
(``swarm_celery.local.judge``): max(critical path on the fastest drone, all work — failed
tries included — over the fleet's capacity), from the durations the builds really took.

    .venv/bin/python benchmarks/schedule_chaos.py [--drones 4,8,16] [--seeds 1,2,3] [--scale 0.1] [--clean]

``--clean``: no noise, bias, spread or failures (the easy case).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plans import SHARED, load_plan
from stack import run_plan

from swarm_celery import bootstrap
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.local.judge import judge
from swarm_celery.settings import Settings

POLICIES = ("critical-path", "fifo")


def slowdowns(drones: int, spread: float) -> dict[str, float]:
    """Drone speeds spread geometrically over ``spread``×, the median drone at speed 1 (slowdown = 1 / speed)."""
    if drones == 1 or spread == 1.0:
        return {f"bench-{i:02d}": 1.0 for i in range(drones)}
    speeds = [spread ** (i / (drones - 1) - 0.5) for i in range(drones)]
    return {f"bench-{i:02d}": 1.0 / s for i, s in enumerate(speeds)}


def one(plan_name: str, drones: int, seed: int, policy: str, args: argparse.Namespace) -> tuple[float, float, float, int]:
    plan = load_plan(plan_name)
    slow = slowdowns(drones, 1.0 if args.clean else args.spread)
    chaos = {} if args.clean else {"SWARM_SIMULATE_NOISE": repr(args.noise), "SWARM_SIMULATE_BIAS": repr(args.bias),
                                   "SWARM_SIMULATE_TRANSIENT": repr(args.transient)}
    env = {"SWARM_TIME_SCALE": repr(args.scale), "SWARM_DURATIONS": str(SHARED / "data" / "build-durations.csv"),
           "SWARM_SCHEDULER": policy, "SWARM_SIMULATE_SEED": str(seed), "SWARM_RETRY_BACKOFF": repr(60.0 * args.scale), **chaos}
    run = run_plan(plan, drones, args.redis, env, drone_env=lambda name: {"SWARM_SIMULATE_SPEED": repr(slow[name])})
    if run.published != len(plan.packages):
        raise SystemExit(f"only {run.published} of {len(plan.packages)} packages published (run kept in {run.home})")
    settings = Settings.from_env({"SWARM_HOME": str(run.home)})
    judged = judge(bootstrap.queries(settings), dispatch_gates(plan), run.session, slow)
    return judged.makespan, judged.bound, judged.makespan / judged.bound, judged.retried


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drones", default="4,8,16")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--set", default="medium")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--bias", type=float, default=1.5)
    parser.add_argument("--spread", type=float, default=4.0)
    parser.add_argument("--transient", type=float, default=0.05)
    parser.add_argument("--clean", action="store_true", help="exact durations, equal drones, no failures")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--redis", default=os.environ.get("SWARM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    policies = args.policies.split(",")
    world = "clean" if args.clean else (f"noise {args.noise}, bias {args.bias}, speeds spread {args.spread}×, "
                                        f"{args.transient:.0%} transient failures")
    print(f"{args.set}: {len(load_plan(args.set).packages)} packages, builds at {args.scale} × real time; {world}", flush=True)
    print(f"{'drones':>6} {'seed':>4} | " + " | ".join(f"{p:>13} makespan bound ratio retried" for p in policies), flush=True)
    missed = False
    for n in (int(x) for x in args.drones.split(",")):
        ratios: dict[str, list[float]] = {p: [] for p in policies}
        spans: dict[str, list[float]] = {p: [] for p in policies}
        for seed in (int(x) for x in args.seeds.split(",")):
            cells = []
            for policy in policies:
                makespan, bound, ratio, retried = one(args.set, n, seed, policy, args)
                ratios[policy].append(ratio)
                spans[policy].append(makespan)
                cells.append(f"{'':>13} {makespan:>8.1f} {bound:>5.1f} {ratio:>5.3f} {retried:>7}")
            print(f"{n:>6} {seed:>4} | " + " | ".join(cells), flush=True)
        ours = statistics.median(ratios[policies[0]])
        line = f"{n:>6} median | {policies[0]}: {ours:.3f} × bound"
        target = 1.05 if args.clean else 1.15
        row_missed = ours > target and policies[0] != "fifo"
        if "fifo" in ratios and policies[0] != "fifo":
            gain = 1 - statistics.median(spans[policies[0]]) / statistics.median(spans["fifo"])
            line += f"; fifo: {statistics.median(ratios['fifo']):.3f} × bound; {gain:.1%} shorter than fifo"
            row_missed |= gain < 0.10 and not args.clean
        missed |= row_missed
        print(line + f"  [{'MISSED' if row_missed else 'ok'} (target ≤ {target})]", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
