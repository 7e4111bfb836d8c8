"""Benchmark: the coordinator's store work at 1k/5k/20k packages and 8/50/200 drones, on SQLite and Postgres.

For each backend and plan size (a synthetic layered plan, benchmarks/scale_plan.py), in a
fresh process:

* save — ``Coordinator.plan`` (gates, expected times, ranks, the store's ``save_plan``):
  wall seconds, statements, peak memory of the process (max RSS);
* late in the plan — the first 80 % published by a fast-forward, then for 8, 50 and 200
  registered drones (2 slots each) completions go through the real coordinator services
  (``builds_started``, ``builds_finished`` with its dispatch) in batches: coordinator CPU
  per completion (``time.process_time``; p50 and mean), statements per completion, work
  the database did (SQLite: thousands of VM instructions; Postgres: rows read, from its
  statistics), and apart from it the CPU of placement (``domain.scheduling.place``, which
  another change owns) and of publishing (a stand-in here: the binhost index has its own
  benchmark); a drone heartbeat (``drone_hello``) with its statements; blocking a package
  (a failure with retries exhausted, its dependents skipped).

    .venv/bin/python benchmarks/scale.py [--sizes 1000,5000,20000] [--drones 8,50,200]
        [--backends sqlite,postgres] [--completions 100] [--batch 4] [--json]

A quick run: ``--sizes 1000,5000``. Postgres: ``SWARM_TEST_PG_URL`` (an admin URL; a
scratch database is made and dropped), default ``postgresql+psycopg2://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN = os.environ.get("SWARM_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _one(backend: str, size: int, drones: list[int], completions: int, batch: int) -> dict[str, Any]:
    from scale_run import run

    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            return run(f"sqlite:///{tmp}/swarm.db", size, drones, completions, batch)
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"swarm_scale_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", size, drones, completions, batch)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _print(backend: str, size: int, r: dict[str, Any]) -> None:
    s = r["save"]
    print(f"\n{backend} {size:,} packages ({r['edges']:,} edges, {r['gates']:,} gates): plan generated in {r['generate_s']:.1f} s")
    print(f"  save: {s['seconds']:.2f} s wall, {s['statements']} statements, peak RSS {s['peak_rss_mib']:.0f} MiB "
          f"(+{s['rss_growth_mib']:.0f} MiB while saving)")
    print("  per completion, CPU ms (finish = builds_finished with its dispatch; store = finish less placement)")
    print("  drones  finish p50/mean  store  wall  stmts  db work | place  publish | start  stmts | heartbeat  stmts | block ms")
    for d in r["phases"]:
        work = f"{d['db_work']:>7.0f}{'r' if backend == 'postgres' else 'k'}"  # rows read, or thousands of SQLite VM steps
        print(f"  {d['drones']:>6}  {d['finish_p50_ms']:>7.2f}/{d['finish_mean_ms']:<7.2f} {d['finish_store_ms']:>5.2f} {d['finish_wall_ms']:>5.2f} "
              f"{d['statements']:>6.1f} {work} | {d['place_ms']:>5.2f}  {d['publish_ms']:>7.3f} | {d['start_ms']:>5.2f} "
              f"{d['start_statements']:>5.1f} | {d['heartbeat_ms']:>9.2f} {d['heartbeat_statements']:>6.1f} | {d.get('block_ms', 0):>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--drones", default="8,50,200")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--completions", type=int, default=100, help="measured completions per fleet size (fewer on small plans)")
    parser.add_argument("--batch", type=int, default=4, help="reports per batch (the coordinator takes them in broker flushes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    drones = [int(d) for d in args.drones.split(",")]
    results: dict[str, dict[int, Any]] = {}
    ctx = multiprocessing.get_context("spawn")
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            with ctx.Pool(1) as pool:  # a fresh process each: its peak memory is this run's own
                result = pool.apply(_one, (backend, size, drones, args.completions, args.batch))
            results.setdefault(backend, {})[size] = result
            if not args.json:
                _print(backend, size, result)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _ratios(results)


def _ratios(results: dict[str, dict[int, Any]]) -> None:
    for backend, by_size in results.items():
        sizes = sorted(by_size)
        if len(sizes) < 2:
            continue
        small, large = by_size[sizes[0]]["phases"][-1], by_size[sizes[-1]]["phases"][-1]
        ratio = large["finish_mean_ms"] / max(small["finish_mean_ms"], 1e-9)
        store = large["finish_store_ms"] / max(small["finish_store_ms"], 1e-9)
        print(f"\n{backend}: CPU per completion at {sizes[-1]:,} / {sizes[0]:,} packages, {large['drones']} drones: {ratio:.2f}x "
              f"(less placement: {store:.2f}x)")


if __name__ == "__main__":
    main()
