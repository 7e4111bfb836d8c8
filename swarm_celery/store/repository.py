"""SqlStore: the :class:`~swarm_celery.ports.Store` port on SQLAlchemy (SQLite or Postgres).

Each method is one transaction. The coordinator is the only writer; CLI readers
use :mod:`swarm_celery.store.queries`. Fencing lives here: a completion counts
only if it names the package's current attempt and that attempt is not finished.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, and_, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.model import AttemptState, BuildResult, EdgeKind, Outcome, PackageState, Plan, SessionState
from swarm_celery.domain.records import AttemptInfo, PackageInfo, PublishedArtifact, SessionCounts, SessionInfo
from swarm_celery.ports import Clock
from swarm_celery.store.models import AttemptRow, DroneRow, EdgeRow, EventRow, GateRow, PackageRow, SessionRow


class SqlStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # sessions -------------------------------------------------------------
    def create_session(self, session_id: str, request: ResolveRequest, simulated: bool) -> None:
        with self._sessions.begin() as db:
            db.add(SessionRow(
                id=session_id, state=SessionState.PLANNING.value, arch=request.arch, profile=request.profile,
                request_json=json.dumps(request.to_json()), config_hash=request.config_hash(), simulated=simulated,
                error="", created_at=self.clock.now(),
            ))
            db.add(_event(self.clock.now(), "session.created", f"session for {len(request.world)} world atoms ({request.arch})", session_id))

    def get_session(self, session_id: str) -> SessionInfo | None:
        with self._sessions() as db:
            row = db.get(SessionRow, session_id)
            return _session_info(row) if row else None

    def save_plan(self, session_id: str, plan: Plan, gates: Mapping[str, frozenset[str]]) -> None:
        """Persist the plan in one transaction: packages, typed and dropped edges, gates."""
        with self._sessions.begin() as db:
            ids = self._insert_packages(db, session_id, plan)
            edges = [
                {"session_id": session_id, "parent_id": ids[p.cpv], "child_id": ids[dep], "kind": kind.value, "dropped": False, "reason": ""}
                for p in plan.packages for kind in _KINDS for dep in p.deps(kind) if dep in ids
            ]
            edges += [
                {"session_id": session_id, "parent_id": ids[d.parent], "child_id": ids[d.child], "kind": d.kind.value, "dropped": True, "reason": d.reason}
                for d in plan.dropped_edges if d.parent in ids and d.child in ids
            ]
            if edges:
                db.execute(insert(EdgeRow), edges)
            gate_rows = [{"package_id": ids[cpv], "requires_id": ids[dep]} for cpv, needs in gates.items() for dep in needs]
            if gate_rows:
                db.execute(insert(GateRow), gate_rows)
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(
                state=SessionState.RUNNING.value, planned_at=self.clock.now(), config_hash=plan.config_hash or SessionRow.config_hash))
            db.add(_event(self.clock.now(), "session.planned", f"{len(plan.packages)} packages, {len(plan.dropped_edges)} edges dropped as cycle breaks", session_id))

    def _insert_packages(self, db: Session, session_id: str, plan: Plan) -> dict[str, int]:
        rows = [
            {"session_id": session_id, "cpv": p.cpv, "slot": p.slot, "sub_slot": p.sub_slot, "repo": p.repo,
             "use": " ".join(p.use), "merge_index": i, "state": PackageState.NEEDED.value, "reason": ""}
            for i, p in enumerate(plan.packages)
        ]
        if rows:
            db.execute(insert(PackageRow), rows)
        found = db.execute(select(PackageRow.cpv, PackageRow.id).where(PackageRow.session_id == session_id))
        return {cpv: pid for cpv, pid in found}

    def fail_session(self, session_id: str, error: str) -> None:
        with self._sessions.begin() as db:
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(
                state=SessionState.FAILED.value, error=error, finished_at=self.clock.now()))
            db.add(_event(self.clock.now(), "session.failed", error, session_id))

    def finish_session(self, session_id: str) -> None:
        with self._sessions.begin() as db:
            done = _rows(db.execute(update(SessionRow).where(SessionRow.id == session_id, SessionRow.state == SessionState.RUNNING.value).values(
                state=SessionState.COMPLETE.value, finished_at=self.clock.now())))
            if done:
                db.add(_event(self.clock.now(), "session.complete", "every package reached a final state", session_id))

    # dispatch -------------------------------------------------------------
    def ready_packages(self, session_id: str, after: int | None = None) -> list[PackageInfo]:
        """Packages still ``needed`` whose every gate is published (optionally only those gated on ``after``)."""
        required = aliased(PackageRow)
        unpublished_gate = exists().where(
            GateRow.package_id == PackageRow.id, GateRow.requires_id == required.id,
            required.state != PackageState.PUBLISHED.value,
        )
        query = select(PackageRow).where(
            PackageRow.session_id == session_id, PackageRow.state == PackageState.NEEDED.value, ~unpublished_gate,
        )
        if after is not None:
            query = query.where(exists().where(and_(GateRow.package_id == PackageRow.id, GateRow.requires_id == after)))
        with self._sessions() as db:
            return [_package_info(r) for r in db.scalars(query.order_by(PackageRow.merge_index))]

    def create_attempt(self, attempt_id: str, package_id: int, queue: str) -> None:
        with self._sessions.begin() as db:
            pkg = db.get(PackageRow, package_id)
            if pkg is None:
                raise LookupError(f"package {package_id} does not exist")
            db.add(AttemptRow(id=attempt_id, package_id=package_id, session_id=pkg.session_id, queue=queue,
                              state=AttemptState.DISPATCHED.value, dispatched_at=self.clock.now()))
            pkg.state = PackageState.DISPATCHED.value
            pkg.current_attempt = attempt_id

    def get_attempt(self, attempt_id: str) -> AttemptInfo | None:
        with self._sessions() as db:
            found = db.execute(select(AttemptRow, PackageRow.cpv).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                               .where(AttemptRow.id == attempt_id)).first()
            return _attempt_info(found[0], found[1]) if found else None

    def get_package(self, package_id: int) -> PackageInfo | None:
        with self._sessions() as db:
            row = db.get(PackageRow, package_id)
            return _package_info(row) if row else None

    def mark_started(self, attempt_id: str, drone: str, started_at: float) -> None:
        with self._sessions.begin() as db:
            attempt = db.get(AttemptRow, attempt_id)
            if attempt is None or attempt.state != AttemptState.DISPATCHED.value:
                return
            attempt.state, attempt.drone, attempt.started_at = AttemptState.STARTED.value, drone, started_at
            db.execute(update(PackageRow).where(PackageRow.id == attempt.package_id, PackageRow.current_attempt == attempt_id)
                       .values(state=PackageState.BUILDING.value))

    def mark_published(self, result: BuildResult, artifact: PublishedArtifact) -> None:
        now = self.clock.now()
        with self._sessions.begin() as db:
            attempt = self._finish_attempt(db, result, Outcome.SUCCESS.value)
            attempt.published_at, attempt.artifact, attempt.sha256, attempt.size = now, artifact.path, artifact.sha256, artifact.size
            pkg = db.get(PackageRow, attempt.package_id)
            assert pkg is not None
            pkg.state, pkg.reason = PackageState.PUBLISHED.value, ""
            db.execute(update(DroneRow).where(DroneRow.name == result.drone).values(builds=DroneRow.builds + 1))
            db.add(_event(now, "package.published", f"{pkg.cpv} built by {result.drone}", pkg.session_id, pkg.cpv))

    def mark_failed(self, result: BuildResult, error: str) -> None:
        with self._sessions.begin() as db:
            attempt = self._finish_attempt(db, result, Outcome.FAILED.value)
            attempt.error = error
            pkg = db.get(PackageRow, attempt.package_id)
            assert pkg is not None
            pkg.state, pkg.reason = PackageState.FAILED.value, error
            db.execute(update(DroneRow).where(DroneRow.name == result.drone).values(failures=DroneRow.failures + 1))
            db.add(_event(self.clock.now(), "package.failed", f"{pkg.cpv} on {result.drone}: {error}", pkg.session_id, pkg.cpv))

    def _finish_attempt(self, db: Session, result: BuildResult, outcome: str) -> AttemptRow:
        attempt = db.get(AttemptRow, result.attempt_id)
        if attempt is None:
            raise LookupError(f"attempt {result.attempt_id} does not exist")
        attempt.state, attempt.outcome = AttemptState.FINISHED.value, outcome
        attempt.drone = result.drone
        attempt.started_at = attempt.started_at or result.started_at or None
        attempt.finished_at = result.finished_at or self.clock.now()
        attempt.log_tail = result.log_tail[-4000:]
        return attempt

    def note_stale_report(self, attempt_id: str, note: str) -> None:
        with self._sessions.begin() as db:
            attempt = db.get(AttemptRow, attempt_id)
            session_id = attempt.session_id if attempt else None
            db.add(_event(self.clock.now(), "attempt.stale", note, session_id, attempt_id))

    def skip_packages(self, session_id: str, cpvs: Sequence[str], reason: str) -> int:
        if not cpvs:
            return 0
        with self._sessions.begin() as db:
            done = _rows(db.execute(update(PackageRow).where(
                PackageRow.session_id == session_id, PackageRow.cpv.in_(list(cpvs)),
                PackageRow.state == PackageState.NEEDED.value).values(state=PackageState.SKIPPED.value, reason=reason)))
            db.add(_event(self.clock.now(), "package.skipped", f"{done} packages: {reason}", session_id))
            return done

    def session_gates(self, session_id: str) -> dict[str, frozenset[str]]:
        pkg, dep = aliased(PackageRow), aliased(PackageRow)
        query = (select(pkg.cpv, dep.cpv).join(GateRow, GateRow.package_id == pkg.id)
                 .join(dep, dep.id == GateRow.requires_id).where(pkg.session_id == session_id))
        gates: dict[str, set[str]] = {}
        with self._sessions() as db:
            for cpv, needs in db.execute(query):
                gates.setdefault(cpv, set()).add(needs)
        return {k: frozenset(v) for k, v in gates.items()}

    def counts(self, session_id: str) -> SessionCounts:
        with self._sessions() as db:
            rows = db.execute(select(PackageRow.state, func.count()).where(PackageRow.session_id == session_id).group_by(PackageRow.state))
            return SessionCounts({state: int(n) for state, n in rows})

    def touch_drone(self, name: str, arch: str) -> None:
        now = self.clock.now()
        with self._sessions.begin() as db:
            row = db.get(DroneRow, name)
            if row is None:
                db.add(DroneRow(name=name, arch=arch, state="online", first_seen=now, last_seen=now, builds=0, failures=0))
                db.add(_event(now, "drone.joined", f"{name} ({arch}) joined", None, name))
            else:
                row.last_seen, row.arch, row.state = now, arch, "online"

    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        with self._sessions.begin() as db:
            db.add(_event(self.clock.now(), kind, message, session_id, subject))


_KINDS = tuple(EdgeKind)


def _rows(result: Any) -> int:
    """Rows matched by an UPDATE (a CursorResult; the ORM types it as Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _event(ts: float, kind: str, message: str, session_id: str | None, subject: str = "") -> EventRow:
    return EventRow(ts=ts, kind=kind, message=message, session_id=session_id, subject=subject)


def _session_info(row: SessionRow) -> SessionInfo:
    return SessionInfo(
        id=row.id, state=SessionState(row.state), arch=row.arch, profile=row.profile, request_json=row.request_json,
        error=row.error, created_at=row.created_at, planned_at=row.planned_at, finished_at=row.finished_at,
        simulated=row.simulated, config_hash=row.config_hash,
    )


def _package_info(row: PackageRow) -> PackageInfo:
    return PackageInfo(
        id=row.id, session_id=row.session_id, cpv=row.cpv, slot=row.slot, sub_slot=row.sub_slot, repo=row.repo,
        use=tuple(row.use.split()), merge_index=row.merge_index, state=PackageState(row.state),
        current_attempt=row.current_attempt, reason=row.reason,
    )


def _attempt_info(row: AttemptRow, cpv: str) -> AttemptInfo:
    return AttemptInfo(
        id=row.id, package_id=row.package_id, session_id=row.session_id, cpv=cpv, queue=row.queue, drone=row.drone,
        state=AttemptState(row.state), outcome=row.outcome, dispatched_at=row.dispatched_at, started_at=row.started_at,
        finished_at=row.finished_at, published_at=row.published_at, log_tail=row.log_tail, error=row.error,
    )
