"""The completion path of the store, batched: starts, publications and new attempts, many per transaction.

A mixin of :class:`~swarm_celery.store.repository.SqlStore`. The coordinator takes
reports in batches (``swarm.build_started`` / ``swarm.build_finished`` are batch
tasks), so each batch is one read of the attempts it names and one transaction for
what it changes; a commit is the dearest statement on SQLite, and a round trip on Postgres.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update

from swarm_celery.domain.model import AttemptState, BuildResult, Outcome, PackageState
from swarm_celery.domain.records import AttemptInfo, NewAttempt, PackageInfo, PublishedArtifact, SessionInfo, StartReport
from swarm_celery.store.dispatch_repo import RepoBase
from swarm_celery.store.models import AttemptRow, DroneRow, EventRow, GateRow, PackageRow, SessionRow
from swarm_celery.store.rows import attempt_info, package_info, session_info

Context = tuple[AttemptInfo, PackageInfo, SessionInfo]

# The statements run once per report, built once (building one costs more than running it on SQLite)
_START = update(AttemptRow).where(  # a start counts from the drone it was given to, for its package's current attempt
    AttemptRow.id == bindparam("b_id"), AttemptRow.state == AttemptState.DISPATCHED.value,
    exists().where(PackageRow.id == AttemptRow.package_id, PackageRow.current_attempt == bindparam("b_id")),
    or_(AttemptRow.drone == bindparam("b_drone"), and_(AttemptRow.drone.is_(None), AttemptRow.queue == bindparam("b_queue"))),
).values(state=AttemptState.STARTED.value, drone=bindparam("b_drone"), started_at=bindparam("b_started")).returning(AttemptRow.package_id)
_BUILDING = update(PackageRow).where(PackageRow.id == bindparam("b_pkg")).values(state=PackageState.BUILDING.value)
_SEEN = update(DroneRow).where(DroneRow.name == bindparam("b_drone")).values(last_seen=bindparam("b_now"), state="online")
_DISPATCHED = (update(PackageRow).where(PackageRow.id == bindparam("b_pkg"))
               .values(state=PackageState.DISPATCHED.value, current_attempt=bindparam("b_attempt")).returning(PackageRow.session_id))


class CompletionRepo(RepoBase):
    def attempt_contexts(self, attempt_ids: Sequence[str]) -> dict[str, Context]:
        """Each known attempt of ``attempt_ids`` with its package and session: three reads for the whole batch."""
        ids = sorted(set(attempt_ids))
        if not ids:
            return {}
        with self.engine.connect() as db:
            attempts = db.execute(select(AttemptRow.__table__).where(AttemptRow.id.in_(ids))).all()
            package_ids = sorted({a.package_id for a in attempts})
            session_ids = sorted({a.session_id for a in attempts})
            packages = {p.id: p for p in db.execute(select(PackageRow.__table__).where(PackageRow.id.in_(package_ids)))}
            sessions = {s.id: session_info(s) for s in db.execute(select(SessionRow.__table__).where(SessionRow.id.in_(session_ids)))}
        return {a.id: (attempt_info(a, packages[a.package_id].cpv), package_info(packages[a.package_id]), sessions[a.session_id])
                for a in attempts}

    def mark_started_many(self, reports: Sequence[StartReport]) -> set[str]:
        """Record each start that names its package's current, dispatched attempt, from the drone it was given to; returns
        those attempt ids."""
        applied: set[str] = set()
        now = self.clock.now()
        with self.engine.begin() as db:
            for report in reports:
                started = db.execute(_START, {"b_id": report.attempt_id, "b_drone": report.drone, "b_queue": f"drone.{report.drone}",
                                              "b_started": report.started_at}).first()
                if started is not None:
                    applied.add(report.attempt_id)
                    db.execute(_BUILDING, {"b_pkg": started[0]})
            for drone in sorted({r.drone for r in reports}):  # a report is also the drone's "last seen"
                db.execute(_SEEN, {"b_drone": drone, "b_now": now})
        return applied

    def mark_published_many(self, items: Sequence[tuple[BuildResult, PublishedArtifact, PackageInfo]]) -> None:
        """Attempts finished and published, packages published, every package gated on them a gate closer: one transaction."""
        if not items:
            return
        now = self.clock.now()
        attempts = [{"b_id": r.attempt_id, "b_drone": r.drone, "b_started": r.started_at or None, "b_finished": r.finished_at or now,
                     "b_tail": r.log_tail[-4000:], "b_path": a.path, "b_sha": a.sha256, "b_size": a.size,
                     "b_seconds": r.build_seconds or None} for r, a, _ in items]
        packages = [{"b_pkg": p.id} for _, _, p in items]
        with self.engine.begin() as db:
            db.execute(update(AttemptRow).where(AttemptRow.id == bindparam("b_id")).values(
                state=AttemptState.FINISHED.value, outcome=Outcome.SUCCESS.value, drone=bindparam("b_drone"),
                started_at=func.coalesce(AttemptRow.started_at, bindparam("b_started")), finished_at=bindparam("b_finished"),
                log_tail=bindparam("b_tail"), published_at=now, artifact=bindparam("b_path"), sha256=bindparam("b_sha"),
                size=bindparam("b_size"), build_seconds=bindparam("b_seconds")), attempts)
            db.execute(update(PackageRow).where(PackageRow.id == bindparam("b_pkg")).values(
                state=PackageState.PUBLISHED.value, reason=""), packages)
            waiting = select(GateRow.package_id).where(GateRow.requires_id == bindparam("b_pkg")).scalar_subquery()
            db.execute(update(PackageRow).where(PackageRow.id.in_(waiting)).values(pending=PackageRow.pending - 1), packages)
            for drone, built in sorted(Counter(r.drone for r, _, _ in items).items()):
                db.execute(update(DroneRow).where(DroneRow.name == drone).values(builds=DroneRow.builds + built, last_seen=now))
            db.execute(insert(EventRow), [{"ts": now, "kind": "package.published", "message": f"{p.cpv} built by {r.drone}",
                                           "session_id": p.session_id, "subject": p.cpv} for r, _, p in items])

    def create_attempts(self, attempts: Sequence[NewAttempt]) -> None:
        """Each package goes to ``dispatched`` with its new current attempt; one transaction for the whole placement."""
        if not attempts:
            return
        now = self.clock.now()
        with self.engine.begin() as db:
            rows = []
            for new in attempts:
                moved = db.execute(_DISPATCHED, {"b_pkg": new.package_id, "b_attempt": new.attempt_id}).first()
                if moved is None:
                    raise LookupError(f"package {new.package_id} does not exist")
                rows.append({"id": new.attempt_id, "package_id": new.package_id, "session_id": moved[0], "queue": new.queue,
                             "drone": new.drone, "state": AttemptState.DISPATCHED.value, "dispatched_at": now, "expected": new.expected})
            db.execute(insert(AttemptRow), rows)
