"""Benchmark: what running Flower costs the swarm's throughput (the same DAG with and without Flower, same run).

The 2,000-package no-op DAG of throughput.py through the real stack (Redis, SQLite, the
coordinator worker, N drone workers that write, report and upload-to-staging a real GPKG the
coordinator verifies and publishes). With Flower: `build-swarm flower` runs during the build,
taking every worker's events, and a client polls its task list every 2 s (someone watching it).
Runs alternate (without, with, without, with, ...) so drift on a shared machine hits both alike;
the ratio of the medians is the overhead; the CPU Flower itself used during the build (from
/proc) is printed too: on a loaded machine it is the steadier number.

    .venv/bin/python benchmarks/flower_overhead.py [--packages 2000] [--drones 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import run_plan
from throughput import synthetic_dag

TOKEN = "bench-flower-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def watcher(port: int, stop: threading.Event) -> threading.Thread:
    """Someone with Flower's task list open: it is fetched every 2 s."""
    def poll() -> None:
        while not stop.wait(2.0):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/api/tasks?limit=100", auth=("admin", TOKEN), timeout=5)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread


def one_run(packages: int, drones: int, redis_url: str, flower: bool) -> tuple[float, float]:
    """Packages per second, and (with Flower) the CPU seconds Flower used per wall second of the build."""
    env = {"SWARM_TIME_SCALE": "0", "SWARM_LOOKAHEAD": "1", "SWARM_API_TOKEN": TOKEN}
    if not flower:
        return packages / run_plan(synthetic_dag(packages), drones, redis_url, env).wall, 0.0
    port, stop = free_port(), threading.Event()
    thread = watcher(port, stop)
    try:
        run = run_plan(synthetic_dag(packages), drones, redis_url, env, alongside=("flower", "--port", str(port), "--no-persistent"))
    finally:
        stop.set()
        thread.join()
    return packages / run.wall, run.companion_cpu / run.wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--drones", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis", default=os.environ.get("SWARM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
    args = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    busy: list[float] = []
    for _ in range(args.rounds):
        for flower in (False, True):
            rate, cpu = one_run(args.packages, args.drones, args.redis, flower)
            rates[flower].append(rate)
            busy += [cpu] if flower else []
            print(f"  {'with' if flower else 'without'} Flower: {rate:6.1f} packages/s" + (f", Flower busy {100 * cpu:.0f} % of a core"
                                                                                        if flower else ""), flush=True)
            time.sleep(2)
    without, with_flower = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"{args.packages}-package no-op DAG, {args.drones} drone workers, {args.rounds} runs each, alternating")
    print(f"without Flower : {without:6.1f} packages/s (median)")
    print(f"with Flower    : {with_flower:6.1f} packages/s (median; its task list polled every 2 s)")
    print(f"ratio          : {with_flower / without:6.3f}  (Flower's overhead {100 * (1 - with_flower / without):+.1f} %)")
    print(f"Flower's own CPU: {100 * statistics.median(busy):.0f} % of one core during the build (median; this machine has "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
