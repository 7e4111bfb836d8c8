"""SqlStore: every store role (:mod:`swarm_celery.ports.store`) on SQLAlchemy (SQLite or Postgres).

Each method is one transaction. The coordinator is the only writer; CLI readers
use :mod:`swarm_celery.store.queries`. Fencing lives here: a completion counts
only if it names the package's current attempt and that attempt is not finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.model import AttemptState, BuildResult, EdgeKind, Outcome, PackageState, Plan, SessionState
from swarm_celery.domain.records import AttemptInfo, SessionCounts, SessionInfo
from swarm_celery.ports import Clock, ControlStore, CoordinatorStore, ExplainStore, HealthStore, ProfileStore, SessionStore
from swarm_celery.store.bulk import analyze, bulk_insert
from swarm_celery.store.completion_repo import CompletionRepo
from swarm_celery.store.control_repo import ControlRepo
from swarm_celery.store.dispatch_repo import DispatchRepo
from swarm_celery.store.fleet_repo import FleetRepo
from swarm_celery.store.health_repo import HealthRepo
from swarm_celery.store.lease_repo import LeaseRepo
from swarm_celery.store.models import AttemptRow, DroneRow, EdgeRow, GateRow, PackageRow, SessionRow
from swarm_celery.store.profile_repo import ProfileRepo
from swarm_celery.store.rows import attempt_info, event_row, rows_matched, session_info


class SqlStore(CompletionRepo, DispatchRepo, FleetRepo, ControlRepo, LeaseRepo, HealthRepo, ProfileRepo):
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # sessions -------------------------------------------------------------
    def create_session(self, session_id: str, request: ResolveRequest, simulated: bool, priority: int = 0,
                       build_profile: str = "", reuse: bool = False) -> None:
        """A new session to plan; ``priority`` is added to every package's rank order (an operator's bump). A session
        of a build profile with ``reuse`` builds only what the profile has not published with the same identity."""
        with self._sessions.begin() as db:
            db.add(SessionRow(
                id=session_id, state=SessionState.PLANNING.value, arch=request.arch, gentoo_profile=request.gentoo_profile,
                request_json=json.dumps(request.to_json()), config_hash=request.config_hash(), simulated=simulated,
                error="", created_at=self.clock.now(), priority=priority, build_profile=build_profile, reuse=reuse,
            ))
            what = f"session for {len(request.world)} world atoms ({request.arch})" + (f", priority {priority}" if priority else "")
            what += (f", profile {build_profile}" + (" (changes only)" if reuse else " (everything)")) if build_profile else ""
            db.add(event_row(self.clock.now(), "session.created", what, session_id))

    def get_session(self, session_id: str) -> SessionInfo | None:
        with self._sessions() as db:
            row = db.get(SessionRow, session_id)
            return session_info(row) if row else None

    def set_simulated(self, session_id: str, simulated: bool, why: str) -> bool:
        """Mark a session's builds simulated or real (the coordinator's say); True, with a ``session.kind`` event, on change."""
        with self._sessions.begin() as db:
            row = db.get(SessionRow, session_id)
            if row is None or bool(row.simulated) == simulated:
                return False
            row.simulated = simulated
            db.add(event_row(self.clock.now(), "session.kind", why, session_id))
            return True

    def save_plan(self, session_id: str, plan: Plan, gates: Mapping[str, frozenset[str]],
                  expected: Mapping[str, float], ranks: Mapping[str, float], reasons: Mapping[str, str] | None = None,
                  reused: frozenset[str] = frozenset()) -> None:
        """Persist the plan in one transaction: packages (with weights and ranks), typed and dropped edges, gates.
        ``reasons``: why a profile's session builds each package (new, what changed); ``reused`` packages are published
        already (same identity): they are not built and gate nothing. Rows go in bulk (store.bulk); Postgres gets fresh
        planner statistics afterwards."""
        with self._sessions.begin() as db:
            conn = db.connection()
            ids = self._insert_packages(conn, session_id, plan, gates, expected, ranks, reasons or {}, reused)
            bulk_insert(conn, EdgeRow.__table__, _EDGE_COLUMNS, _edges(session_id, plan, ids))  # type: ignore[arg-type]
            bulk_insert(conn, GateRow.__table__, ("package_id", "requires_id"),  # type: ignore[arg-type]
                        ((ids[cpv], ids[dep]) for cpv, needs in gates.items() for dep in needs))
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(
                state=SessionState.RUNNING.value, planned_at=self.clock.now(), config_hash=plan.config_hash or SessionRow.config_hash))
            what = f"{len(plan.packages)} packages, {len(plan.dropped_edges)} edges dropped as cycle breaks"
            what += f"; {len(reused)} published already with the same identity, not built again" if reused else ""
            db.add(event_row(self.clock.now(), "session.planned", what, session_id))
        with self.engine.begin() as conn:
            analyze(conn, ("packages", "edges", "gates"))

    @staticmethod
    def _insert_packages(conn: Connection, session_id: str, plan: Plan, gates: Mapping[str, frozenset[str]],
                         expected: Mapping[str, float], ranks: Mapping[str, float], reasons: Mapping[str, str],
                         reused: frozenset[str]) -> dict[str, int]:
        to_build = {p.cpv for p in plan.packages} - reused
        needed, published = PackageState.NEEDED.value, PackageState.PUBLISHED.value
        rows = (
            (session_id, p.cpv, p.slot, p.sub_slot, p.repo, " ".join(p.use), i, published if p.cpv in reused else needed,
             reasons.get(p.cpv, "") if p.cpv in reused else "", reasons.get(p.cpv, ""),
             len(gates.get(p.cpv, frozenset()) & to_build), expected.get(p.cpv, 0.0), ranks.get(p.cpv, 0.0), 0, 0.0, p.identity,
             " ".join(p.slot_deps))
            for i, p in enumerate(plan.packages)
        )
        bulk_insert(conn, PackageRow.__table__, _PACKAGE_COLUMNS, rows)  # type: ignore[arg-type]
        found = conn.execute(select(PackageRow.cpv, PackageRow.id).where(PackageRow.session_id == session_id))
        return {cpv: pid for cpv, pid in found}

    def fail_session(self, session_id: str, error: str) -> None:
        with self._sessions.begin() as db:
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(
                state=SessionState.FAILED.value, error=error, finished_at=self.clock.now()))
            db.add(event_row(self.clock.now(), "session.failed", error, session_id))

    def finish_session(self, session_id: str) -> bool:
        """Mark a running session complete; True when this call did."""
        with self._sessions.begin() as db:
            done = rows_matched(db.execute(update(SessionRow).where(SessionRow.id == session_id, SessionRow.state == SessionState.RUNNING.value).values(
                state=SessionState.COMPLETE.value, finished_at=self.clock.now())))
            if done:
                db.add(event_row(self.clock.now(), "session.complete", "every package reached a final state", session_id))
            return bool(done)

    # attempts -------------------------------------------------------------
    def get_attempt(self, attempt_id: str) -> AttemptInfo | None:
        with self._sessions() as db:
            found = db.execute(select(AttemptRow, PackageRow.cpv).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                               .where(AttemptRow.id == attempt_id)).first()
            return attempt_info(found[0], found[1]) if found else None

    def mark_failed(self, result: BuildResult, error: str, kind: str = "unknown", infrastructure: bool = False) -> None:
        with self._sessions.begin() as db:
            attempt = self._finish_attempt(db, result, Outcome.FAILED.value)
            attempt.error, attempt.failure_kind, attempt.infrastructure = error, kind, infrastructure
            attempt.build_seconds = result.build_seconds or None
            pkg = db.get(PackageRow, attempt.package_id)
            assert pkg is not None
            pkg.state, pkg.reason = PackageState.FAILED.value, error
            db.execute(update(DroneRow).where(DroneRow.name == result.drone).values(failures=DroneRow.failures + 1, last_seen=self.clock.now()))
            what = "infrastructure failure" if infrastructure else "failed"
            db.add(event_row(self.clock.now(), "package.failed", f"{pkg.cpv} {what} on {result.drone} ({kind}): {error}", pkg.session_id, pkg.cpv))

    def mark_cancelled(self, result: BuildResult, reason: str) -> None:
        """The drone stopped the build on a revoke: the attempt ends ``cancelled`` (counted against nobody), the package waits again."""
        with self._sessions.begin() as db:
            attempt = self._finish_attempt(db, result, Outcome.CANCELLED.value)
            attempt.error, attempt.counted = reason, False
            pkg = db.get(PackageRow, attempt.package_id)
            assert pkg is not None
            pkg.state, pkg.reason, pkg.current_attempt = PackageState.NEEDED.value, reason, None
            db.add(event_row(self.clock.now(), "attempt.cancelled", f"{pkg.cpv} on {result.drone}: {reason}", pkg.session_id, pkg.cpv))

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
            db.add(event_row(self.clock.now(), "attempt.stale", note, session_id, attempt_id))

    def skip_packages(self, session_id: str, cpvs: Sequence[str], reason: str) -> int:
        if not cpvs:
            return 0
        with self._sessions.begin() as db:
            done = rows_matched(db.execute(update(PackageRow).where(
                PackageRow.session_id == session_id, PackageRow.cpv.in_(list(cpvs)),
                PackageRow.state == PackageState.NEEDED.value).values(state=PackageState.SKIPPED.value, reason=reason)))
            db.add(event_row(self.clock.now(), "package.skipped", f"{done} packages: {reason}", session_id))
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
        with self.engine.connect() as db:
            rows = db.execute(select(PackageRow.state, func.count()).where(PackageRow.session_id == session_id).group_by(PackageRow.state))
            return SessionCounts({state: int(n) for state, n in rows})

    def session_finished(self, session_id: str) -> bool:
        """``counts(session_id).finished`` in two index probes: some package, and none that is not final."""
        with self.engine.connect() as db:
            return bool(db.execute(_FINISHED, {"b_session": session_id}).scalar())

    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        with self._sessions.begin() as db:
            db.add(event_row(self.clock.now(), kind, message, session_id, subject))


_PACKAGE_COLUMNS = ("session_id", "cpv", "slot", "sub_slot", "repo", "use", "merge_index", "state", "reason", "change", "pending",
                    "expected", "rank", "priority", "not_before", "identity", "slot_deps")
_EDGE_COLUMNS = ("session_id", "parent_id", "child_id", "kind", "dropped", "reason")


def _edges(session_id: str, plan: Plan, ids: Mapping[str, int]) -> Iterator[tuple[str, int, int, str, bool, str]]:
    """The plan's typed edges between its packages, then the edges dropped as cycle breaks."""
    build, run, post, install = EdgeKind.BUILD.value, EdgeKind.RUN.value, EdgeKind.POST.value, EdgeKind.INSTALL.value
    for p in plan.packages:
        me = ids[p.cpv]
        for kind, deps in ((build, p.build_deps), (run, p.run_deps), (post, p.post_deps), (install, p.install_deps)):
            for dep in deps:
                if dep in ids:
                    yield session_id, me, ids[dep], kind, False, ""
    for d in plan.dropped_edges:
        if d.parent in ids and d.child in ids:
            yield session_id, ids[d.parent], ids[d.child], d.kind.value, True, d.reason
_MINE = PackageRow.session_id == bindparam("b_session")
_FINISHED = select(and_(exists().where(_MINE), ~exists().where(_MINE, PackageRow.state.in_([s.value for s in PackageState if not s.terminal]))))


def _plays_every_role(store: SqlStore) -> tuple[CoordinatorStore, ControlStore, ExplainStore, ProfileStore, HealthStore, SessionStore]:
    """mypy holds the store to every role's Protocol (ports.store) through this function's return type."""
    return store, store, store, store, store, store


