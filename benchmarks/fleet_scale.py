"""Benchmark: a whole plan through the real stack on 200 light drones, against the message-pattern ceiling.

* ours — a synthetic plan shaped like real ones (scale_plan.py: ~2.85 build dependencies and ~12 dispatch gates per
  package, names and expected times from the durations table) through the real stack: Redis, SQLite, the coordinator
  worker, and ``--drones`` light drones (light_drones.py: many per process, each with its own queue, hello,
  heartbeats and 2 slots) whose builds take no time but write a real GPKG into staging and report it; the coordinator
  verifies and publishes each into the binhost before releasing its dependents.
* ceiling — the same light-drone processes and queues, but ``bench.build`` messages sent at once, each answered by a
  start and an end report to one solo worker that counts them (noop_app.py): build-swarm's message pattern with no
  verification, SQL, placement or DAG; what any design of this shape could reach with these drones on this machine.

Both measured in this run on the same broker; printed as packages per second and their ratio, with the coordinator's
CPU per package.

    .venv/bin/python benchmarks/fleet_scale.py [--packages 20000] [--drones 200] [--hosts 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from light_drones import names
from scale_plan import plan_durations, synthetic_plan
from stack import cpu_seconds, light, run_plan, stop_all
from throughput import noop_worker

from swarm_celery.app import create_app
from swarm_celery.domain.model import drone_queue

COUNTER = "bench:fleet:done"


def ceiling(tasks: int, drones: int, hosts: int, broker: str) -> tuple[float, float, float]:
    """Seconds for ``tasks`` builds of the bare message pattern on the light drones; the counting worker's CPU seconds and
    the light drones'."""
    client = redis.Redis.from_url(broker)
    client.flushdb()
    home = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    env = {"SWARM_HOME": str(home), "SWARM_BROKER_URL": broker, "SWARM_SLOTS": "2", "SWARM_DRONE_NAME": "light-host"}
    counting = noop_worker(broker, COUNTER, "-Q", "bench.coord", "--pool", "solo", "-n", "coord@%h")
    (home / "ready").mkdir()
    hosts_up = light(env, home / "logs", drones, hosts, "pattern", ready=home / "ready")
    try:
        app = create_app(broker, 3600)
        time.sleep(5)  # the counting worker connects (it consumes from its queue whenever it is up: nothing is lost)
        queues = [drone_queue(n) for n in names(0, drones)]
        start, booted = time.monotonic(), cpu_seconds(counting.pid)
        drones_booted = sum(cpu_seconds(p.pid) for p in hosts_up)
        with app.producer_or_acquire() as producer:
            for i in range(tasks):
                app.send_task("bench.build", args=[i], queue=queues[i % drones], producer=producer)
        while int(client.get(COUNTER) or 0) < tasks:
            if counting.poll() is not None or any(p.poll() is not None for p in hosts_up):
                raise SystemExit(f"a ceiling worker died; see {home}/logs")
            time.sleep(0.01)
        return (time.monotonic() - start, cpu_seconds(counting.pid) - booted,
                sum(cpu_seconds(p.pid) for p in hosts_up) - drones_booted)
    finally:
        stop_all([*hosts_up, counting])


def redis_cpu(broker: str) -> float:
    """CPU seconds the broker's redis-server has used (0 when it runs elsewhere)."""
    pid = int(redis.Redis.from_url(broker).info("server").get("process_id", 0))
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=20000)
    parser.add_argument("--drones", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=4, help="processes the light drones share")
    parser.add_argument("--heartbeat", default="30", help="seconds between a drone's heartbeats (the default of a deployed drone)")
    parser.add_argument("--redis", default=os.environ.get("SWARM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    plan = synthetic_plan(args.packages)
    table = Path(tempfile.mkdtemp(prefix="bench-durations-")) / "durations.csv"
    table.write_text("package,seconds\n" + "".join(f"{k},{v}\n" for k, v in plan_durations(plan).seconds.items()))
    before = redis_cpu(args.redis)
    bare, counting_cpu, bare_drones_cpu = ceiling(args.packages, args.drones, args.hosts, args.redis)
    between = redis_cpu(args.redis)
    run = run_plan(plan, args.drones, args.redis, {"SWARM_TIME_SCALE": "0", "SWARM_SLOTS": "2", "SWARM_HEARTBEAT": args.heartbeat,
                                                   "SWARM_DURATIONS": str(table)}, timeout=3600, light_hosts=args.hosts)
    if run.published != args.packages:
        raise SystemExit(f"only {run.published} of {args.packages} packages published; see {run.home}")
    broker_ms = 1000 * (redis_cpu(args.redis) - between) / args.packages  # with the plan's save and the workers' start
    ours, top = args.packages / run.wall, args.packages / bare
    result = {"packages": args.packages, "drones": args.drones, "hosts": args.hosts, "ceiling_seconds": round(bare, 2),
              "ceiling_per_second": round(top, 1), "ours_seconds": round(run.wall, 2), "ours_per_second": round(ours, 1),
              "ratio": round(ours / top, 3), "coordinator_cpu_ms_per_package": round(1000 * run.coordinator_cpu / args.packages, 2),
              "drones_cpu_ms_per_package": round(1000 * run.drones_cpu / args.packages, 2),
              "redis_cpu_ms_per_package": round(broker_ms, 2), "ceiling_redis_cpu_ms_per_task": round(1000 * (between - before) / args.packages, 2),
              "ceiling_counter_cpu_ms_per_task": round(1000 * counting_cpu / args.packages, 2),
              "ceiling_drones_cpu_ms_per_task": round(1000 * bare_drones_cpu / args.packages, 2), "home": str(run.home)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.packages} packages, {args.drones} light drones in {args.hosts} processes, same Redis")
        print(f"ceiling (message pattern, no work) : {top:8.1f} /s  ({bare:.1f} s)")
        print(f"build-swarm, the whole plan        : {ours:8.1f} /s  ({run.wall:.1f} s; every package a verified, published GPKG)")
        print(f"CPU per package                    : coordinator {result['coordinator_cpu_ms_per_package']} ms, "
              f"light drones {result['drones_cpu_ms_per_package']} ms, Redis {result['redis_cpu_ms_per_package']} ms")
        print(f"CPU per ceiling task               : counting worker {result['ceiling_counter_cpu_ms_per_task']} ms, "
              f"light drones {result['ceiling_drones_cpu_ms_per_task']} ms, Redis {result['ceiling_redis_cpu_ms_per_task']} ms")
        print(f"ratio to the ceiling               : {ours / top:8.3f}  ({'ok' if ours >= 0.6 * top else 'MISSED (need ≥0.6)'})")
    return 0 if ours >= 0.6 * top else 1


if __name__ == "__main__":
    raise SystemExit(main())
