"""Benchmark: the dashboard's overview of a 20,000-package session, served by a real API over HTTP (target: p95 ≤ 100 ms).

The record is synthetic and written straight through the store: a 20,000-package DAG (30
layers, each package depending on 1–3 of the layers above, throughput.py's) saved with
``SqlStore.save_plan`` (gates, expected seconds, critical-path ranks), then moved mid-run:
the first 60 % published with their attempts and events, a few failed, blocked and skipped,
8 building on 8 drones. A `build-swarm api` process serves it; one client, logged in with the
admin cookie, times each page in turn. The baseline, measured in the same run against the
same server, is ``/health`` (one ``SELECT 1``): the ratio is what the page costs beyond the
request itself.

    .venv/bin/python benchmarks/dashboard.py [--packages 20000] [--requests 200] [--database URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import synthetic_dag

from swarm_celery import bootstrap
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.domain.model import DroneIdentity
from swarm_celery.domain.scheduling import remaining_paths
from swarm_celery.settings import Settings
from swarm_celery.store.models import AttemptRow, EventRow, PackageRow
from swarm_celery.store.repository import SqlStore

TOKEN = "bench-admin-token"
TARGET = 0.100  # seconds, p95 of the overview
REQUEST = ResolveRequest(repos=("/bench",), gentoo_profile="default/linux/amd64/23.0/systemd", arch="amd64", world=("bench/world",))
PAGES = ("/health", "/ui", "/ui/part/overview", "/ui/fleet", "/ui/timeline?window=600", "/ui/plan?stage=ready", "/metrics")


def record(store: SqlStore, packages: int, drones: int = 8) -> str:
    """A session of ``packages`` saved through the store, then 60 % published, 8 building, a few failed."""
    plan = synthetic_dag(packages)
    gates = dispatch_gates(plan)
    expected = {p.cpv: 30.0 + (hash(p.cpv) % 600) for p in plan.packages}
    session = uuid.uuid4().hex[:12]
    store.create_session(session, REQUEST, simulated=True)
    store.save_plan(session, plan, gates, expected, remaining_paths(gates, expected))
    for i in range(drones):
        store.register_drone(DroneIdentity(f"drone-{i:02d}", "amd64", cores=8, memory_mb=16000, disk_free_mb=50000, slots=1))
    ids = _ids(store, session)
    _progress(store, session, [p.cpv for p in plan.packages], ids, expected, drones)
    return session


def _ids(store: SqlStore, session: str) -> dict[str, int]:
    with store.engine.connect() as db:
        return {cpv: pid for cpv, pid in db.execute(PackageRow.__table__.select().with_only_columns(PackageRow.cpv, PackageRow.id)
                                                  .where(PackageRow.session_id == session))}


def _progress(store: SqlStore, session: str, order: list[str], ids: dict[str, int], expected: dict[str, float], drones: int) -> None:
    now = time.time()
    done, failed = int(len(order) * 0.6), 40
    attempts, events = [], []
    for i, cpv in enumerate(order[: done + failed + drones]):
        state = "published" if i < done else "failed" if i < done + failed else "building"
        start = now - 3600 + i * 3600 / len(order)
        finished = None if state == "building" else start + expected[cpv] / 100
        attempts.append({"id": uuid.uuid4().hex, "package_id": ids[cpv], "session_id": session, "queue": f"drone.drone-{i % drones:02d}",
                         "drone": f"drone-{i % drones:02d}", "state": "started" if finished is None else "finished",
                         "outcome": None if finished is None else "success" if state == "published" else "failed",
                         "dispatched_at": start - 1, "started_at": start, "finished_at": finished,
                         "published_at": finished + 0.05 if state == "published" and finished else None, "expected": expected[cpv],
                         "failure_kind": "compile" if state == "failed" else "", "log_tail": ""})
        events.append({"ts": finished or start, "session_id": session, "kind": f"package.{state}", "subject": cpv, "message": f"{cpv} {state}"})
    with store.engine.begin() as db:
        db.execute(insert(AttemptRow), attempts)
        db.execute(insert(EventRow), events)
        for a in attempts:
            pkg_state = {"success": "published", "failed": "blocked", None: "building"}[a["outcome"]]
            db.execute(update(PackageRow).where(PackageRow.id == a["package_id"]).values(state=pkg_state, current_attempt=a["id"]))


def time_pages(base: str, cookie: str, requests: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {page: [] for page in PAGES}
    with httpx.Client(base_url=base, cookies={"swarm_ui": cookie}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        for page in PAGES:
            for _ in range(5):  # warm up
                client.get(page).raise_for_status()
        for _ in range(requests):
            for page in PAGES:
                start = time.perf_counter()
                client.get(page).raise_for_status()
                found[page].append(time.perf_counter() - start)
    return found


def serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env(), "SWARM_API_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "-m", "swarm_celery", "api", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the API did not start")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default="", help="SQLAlchemy URL of an empty database (default: SQLite in a temporary SWARM_HOME)")
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    settings = Settings.from_env({"SWARM_HOME": str(home), "SWARM_BROKER_URL": "redis://127.0.0.1:1/0", "SWARM_DATABASE_URL": args.database})
    started = time.monotonic()
    record(bootstrap.store(settings), args.packages)
    print(f"record: {args.packages} packages saved through SqlStore.save_plan and moved mid-run in {time.monotonic() - started:.1f} s "
          f"({settings.database.split(':')[0]})")
    server = serve(settings, args.port)
    try:
        login = httpx.post(f"http://127.0.0.1:{args.port}/ui/login", data={"token": TOKEN}, follow_redirects=False)
        times = time_pages(f"http://127.0.0.1:{args.port}", login.cookies["swarm_ui"], args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    base = statistics.quantiles(times["/health"], n=20)[18]
    print(f"{args.requests} requests per page, one client, one API process (uvicorn), p50 / p95 in ms, ratio of p95 to /health's")
    for page, samples in times.items():
        p95 = statistics.quantiles(samples, n=20)[18]
        print(f"  {page:<26} {1000 * statistics.median(samples):7.1f} {1000 * p95:7.1f}   {p95 / base:6.1f}×")
    overview = statistics.quantiles(times["/ui"], n=20)[18]
    verdict = "ok" if overview <= TARGET else f"MISSED (target {1000 * TARGET:.0f} ms)"
    print(f"overview p95 {1000 * overview:.1f} ms for {args.packages} packages: {verdict}")
    return 0 if overview <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
