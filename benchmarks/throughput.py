"""Benchmark: how many packages per second the whole stack moves, against raw Celery on the same broker.

* ours — a 2,000-package synthetic DAG (30 layers, each package depending on 1–3 of the
  layers above) through the real stack: Redis, SQLite, the coordinator worker, N drone
  workers whose builds take no time but still write, upload-to-staging and report a real
  GPKG that the coordinator verifies and publishes into the binhost before releasing
  dependents.
* raw  — 2,000 no-op Celery tasks (same app settings: acks_late, prefetch 1, JSON) sent at
  once to N worker processes of the same pool type, counted in Redis.
* ceiling — the same, but each task reports its start and its end as tasks to one solo
  coordinator worker (build-swarm's message pattern with no work, no DAG, no store):
  what any design of this shape could reach on this machine.

Both measured in this run, on the same broker; printed as packages (tasks) per second and the ratio.

    .venv/bin/python benchmarks/throughput.py [--packages 2000] [--drones 4]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import run_plan

from swarm_celery.app import create_app
from swarm_celery.domain.model import Plan, PlannedPackage

HERE = Path(__file__).resolve().parent


def synthetic_dag(packages: int, layers: int = 30, seed: int = 7) -> Plan:
    rng = random.Random(seed)
    per_layer = max(1, packages // layers)
    names: list[list[str]] = []
    nodes: list[PlannedPackage] = []
    for layer in range(layers):
        count = per_layer if layer < layers - 1 else packages - per_layer * (layers - 1)
        row = [f"bench-l{layer:02d}/p{i:04d}-1" for i in range(count)]
        for cpv in row:
            above = [n for earlier in names[-3:] for n in earlier]
            deps = tuple(sorted(set(rng.sample(above, min(len(above), rng.randint(1, 3)))))) if above else ()
            nodes.append(PlannedPackage(cpv, "0", "0", "gentoo", (), build_deps=deps))
        names.append(row)
    return Plan(packages=tuple(nodes), merge_order=tuple(p.cpv for p in nodes))


COUNTER = "bench:noop:done"  # the raw phases' workers count their tasks here (noop_app.py)


def noop_worker(broker: str, counter: str, *args: str) -> subprocess.Popen[bytes]:
    """A Celery worker of noop_app (``args``: its queue, pool, name...) on ``broker``, counting in Redis at ``counter``."""
    env = {**os.environ, "SWARM_BENCH_BROKER": broker, "SWARM_BENCH_COUNTER": counter,
           "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    argv = [str(Path(sys.executable).parent / "celery"), "-A", "noop_app", "worker", "--without-gossip", "--without-mingle",
            "--loglevel", "WARNING", *args]
    return subprocess.Popen(argv, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def raw_celery(tasks: int, workers: int, broker: str, pattern: bool = False) -> float:
    """Seconds for ``tasks`` no-op tasks sent at once to ``workers`` worker processes.

    With ``pattern``: ``bench.build`` tasks, each reporting its start and end to one solo coordinator worker (the
    message pattern of a build-swarm build, without any work); timed until the coordinator counted every end.
    """
    client = redis.Redis.from_url(broker)
    client.flushdb()
    procs = [noop_worker(broker, COUNTER, "-E", "-Q", "bench.noop", "-c", "1", "-n", f"noop{i}@%h") for i in range(workers)]
    if pattern:
        procs.append(noop_worker(broker, COUNTER, "-E", "-Q", "bench.coord", "--pool", "solo", "-n", "coord@%h"))
    try:
        app = create_app(broker, 3600)  # the parent sends on the broker it was given (never noop_app's module-level one)
        time.sleep(8)  # let the workers connect
        start = time.monotonic()
        with app.producer_or_acquire() as producer:
            for i in range(tasks):
                app.send_task("bench.build" if pattern else "bench.noop", args=[i], queue="bench.noop", producer=producer)
        while int(client.get(COUNTER) or 0) < tasks:
            time.sleep(0.01)
        return time.monotonic() - start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--drones", type=int, default=4)
    parser.add_argument("--lookahead", type=int, default=1)
    parser.add_argument("--redis", default=os.environ.get("SWARM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    plan = synthetic_dag(args.packages)
    raw = raw_celery(args.packages, args.drones, args.redis)
    ceiling = raw_celery(args.packages, args.drones, args.redis, pattern=True)
    run = run_plan(plan, args.drones, args.redis, {"SWARM_TIME_SCALE": "0", "SWARM_LOOKAHEAD": str(args.lookahead)})
    if run.published != args.packages:
        raise SystemExit(f"only {run.published} of {args.packages} packages published")
    ours_rate, raw_rate, ceiling_rate = args.packages / run.wall, args.packages / raw, args.packages / ceiling
    print(f"{args.packages} packages / tasks, {args.drones} drone workers / raw workers, same Redis")
    print(f"raw Celery no-op tasks        : {raw_rate:8.1f} /s  ({raw:.2f} s)")
    print(f"raw Celery, build-swarm's     : {ceiling_rate:8.1f} /s  ({ceiling:.2f} s; a no-op task reporting start and end")
    print("  message pattern (ceiling)                         to one solo coordinator worker, no work, no DAG)")
    print(f"build-swarm no-op DAG         : {ours_rate:8.1f} /s  ({run.wall:.2f} s; every package a verified, published GPKG)")
    print(f"ratio to raw                  : {ours_rate / raw_rate:8.3f}  ({'ok' if ours_rate >= 0.5 * raw_rate else 'MISSED (need ≥0.5)'})")
    print(f"ceiling's ratio to raw        : {ceiling_rate / raw_rate:8.3f}")
    print(f"ratio to the ceiling          : {ours_rate / ceiling_rate:8.3f}")
    return 0 if ours_rate >= 0.5 * raw_rate else 1


if __name__ == "__main__":
    raise SystemExit(main())
