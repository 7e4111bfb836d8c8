"""Parts of the scale benchmark: a statement/work meter on an engine, stand-ins for the broker and the binhost,
and a fast-forward that takes a saved plan to "late in the plan" without going through the services.

The fast-forward writes the rows a long run would have left (packages published in merge
order, one successful attempt each) so the measured completions see the table sizes and
learning history of a plan mostly done.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, select, text, update

from swarm_celery.domain.model import BuildRequest, PackageState
from swarm_celery.domain.records import PackageInfo, PublishedArtifact
from swarm_celery.errors import ArtifactError
from swarm_celery.store.models import AttemptRow, PackageRow

PROGRESS_STEP = 1000  # SQLite virtual-machine instructions per progress callback (its "work done" meter)


@dataclass
class Meter:
    """SQL statements sent and, on SQLite, thousands of VM instructions run (how much the database read and did)."""

    statements: int = 0
    vm_steps: int = 0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._statement)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", self._progress)
        engine.dispose()  # every connection from now on is metered

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _progress(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_progress_handler(self._step, PROGRESS_STEP)

    def _step(self) -> int:
        self.vm_steps += 1
        return 0

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.vm_steps


@dataclass
class Clock:
    t: float = 1_000_000.0

    def now(self) -> float:
        return self.t


@dataclass
class Broker:
    """Builds sent, in order (a drone takes its oldest first)."""

    sent: list[tuple[BuildRequest, str]] = field(default_factory=list)

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None:
        self.sent.extend(builds)

    def revoke(self, attempt_ids: Sequence[str], terminate: bool = True) -> None:
        pass

    def wake(self, arch: str, after_seconds: float) -> None:
        pass

    def stop_consuming(self, drone: str, queues: Sequence[str]) -> None:
        pass

    def start_consuming(self, drone: str, queues: Sequence[str]) -> None:
        pass


@dataclass
class Publisher:
    """Publishing without a binhost (its index is measured by its own benchmark): accepts every artifact; timed."""

    seconds: float = 0.0

    def publish_many(self, arch: str, items: Sequence[tuple[Path, str, PackageInfo]],
                     simulated_ok: bool = False) -> list[PublishedArtifact | ArtifactError]:
        started = time.process_time()
        out: list[PublishedArtifact | ArtifactError] = [PublishedArtifact(f"{p.cpv}-1.gpkg.tar", sha, 1) for _, sha, p in items]
        self.seconds += time.process_time() - started
        return out

    def holds(self, arch: str, path: str) -> bool:
        return False


@contextmanager
def timed_place(module: Any) -> Iterator[list[float]]:
    """Wrap ``module.place`` (the placement policy the dispatcher calls) to collect its CPU seconds per call."""
    original = module.place
    calls: list[float] = []

    def place(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append(time.process_time() - started)

    module.place = place
    try:
        yield calls
    finally:
        module.place = original


def fast_forward(engine: Engine, session_id: str, done: float, drones: int, now: float, seed: int = 7) -> int:
    """Publish the first ``done`` fraction of the plan (merge order keeps that closed under dependencies), each with a
    successful attempt on one of ``drones``; recompute the gate counters. Returns packages published."""
    rng = random.Random(seed)
    with engine.begin() as db:
        rows = db.execute(select(PackageRow.id, PackageRow.expected, PackageRow.merge_index)
                          .where(PackageRow.session_id == session_id).order_by(PackageRow.merge_index)).all()
        cut = int(len(rows) * done)
        published = rows[:cut]
        db.execute(update(PackageRow).where(PackageRow.session_id == session_id, PackageRow.merge_index < cut)
                   .values(state=PackageState.PUBLISHED.value))
        attempts = []
        for i, (pid, expected, _) in enumerate(published):
            took = max(1.0, expected * rng.uniform(0.8, 1.25))
            finished = now - (cut - i)
            attempts.append({"id": uuid.uuid4().hex, "package_id": pid, "session_id": session_id, "queue": f"drone.d{i % drones:03d}",
                             "drone": f"d{i % drones:03d}", "state": "finished", "outcome": "success", "dispatched_at": finished - took,
                             "started_at": finished - took, "finished_at": finished, "published_at": finished,
                             "expected": expected, "build_seconds": took})
        if attempts:
            db.execute(insert(AttemptRow), attempts)
        db.execute(text(
            "UPDATE packages SET pending = (SELECT count(*) FROM gates g JOIN packages q ON q.id = g.requires_id "
            "WHERE g.package_id = packages.id AND q.state != 'published') WHERE session_id = :s"), {"s": session_id})
    if engine.dialect.name == "postgresql":  # statistics for the planner, as after a plan is saved (SQLite's are not kept:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:  # its planner does better without them)
            db.execute(text("ANALYZE"))
    return cut


def pg_rows_read(engine: Engine) -> int:
    """Rows the Postgres server read for this database (sequential and index fetches), as its statistics say.
    Closes the pool first: a backend flushes its statistics when it exits."""
    engine.dispose()
    time.sleep(0.3)
    with engine.connect() as db:
        db.execute(text("SELECT pg_stat_clear_snapshot()"))
        value = db.execute(text("SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) "
                                "FROM pg_stat_user_tables")).scalar()
    engine.dispose()
    return int(value or 0)


__all__ = ["Broker", "Clock", "Meter", "Publisher", "fast_forward", "pg_rows_read", "timed_place"]
