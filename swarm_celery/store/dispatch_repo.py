"""Dispatch side of the store: what is ready, attempts, failure history, retries, blocking.

A mixin of :class:`~swarm_celery.store.repository.SqlStore`. Readiness is a counter:
``packages.pending`` holds how many of a package's gates are not published yet and
publishing decrements it for every package gated on the published one, so "what is
ready" is an indexed lookup instead of a join over every gate.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from swarm_celery.domain.emerge_log import LoggedBuild
from swarm_celery.domain.migration import RunningBuild
from swarm_celery.domain.model import AttemptState, Outcome, PackageState, SessionState
from swarm_celery.domain.records import AttemptInfo, ReadyPackage
from swarm_celery.domain.scheduling import FailedAttempt, history_key
from swarm_celery.ports import Clock
from swarm_celery.store.models import AttemptRow, BuildHistoryRow, DroneRow, GateRow, PackageRow, SessionRow
from swarm_celery.store.rows import attempt_info, event_row, rows_matched

IN_FLIGHT = (AttemptState.DISPATCHED.value, AttemptState.STARTED.value)
SPEED_WINDOW = 50  # recent builds per drone that its speed is learned from
PACE_WINDOW = 100  # recent builds of the swarm that its pace is learned from


_LATEST_SUCCESSES = (select(AttemptRow.build_seconds, AttemptRow.expected).join(SessionRow, SessionRow.id == AttemptRow.session_id)
                     .where(AttemptRow.drone == bindparam("b_drone"), AttemptRow.outcome == Outcome.SUCCESS.value,
                            SessionRow.arch == bindparam("b_arch"), AttemptRow.build_seconds.is_not(None), AttemptRow.expected > 0)
                     .order_by(AttemptRow.finished_at.desc()).limit(SPEED_WINDOW))  # one drone's speed window


class RepoBase:
    """What the repository mixins share. Hot paths (once or twice per build) use ``engine`` connections and
    Core statements: an ORM session costs about three times as much per statement."""

    clock: Clock
    engine: Engine
    _sessions: sessionmaker[Session]


class DispatchRepo(RepoBase):
    def ready_packages(self, arch: str, limit: int | None = None) -> list[ReadyPackage]:
        """Packages of running sessions of ``arch`` whose gates are all published and that wait for a drone.

        With ``limit``, only that many, by operator priority then remaining path (what placement looks at first).
        """
        query = (select(PackageRow.id, PackageRow.session_id, PackageRow.cpv, PackageRow.rank, PackageRow.expected,
                        PackageRow.priority + SessionRow.priority, PackageRow.merge_index, PackageRow.not_before,
                        PackageRow.slot, PackageRow.repo, PackageRow.use)
                 .join(SessionRow, SessionRow.id == PackageRow.session_id)
                 .where(SessionRow.state == SessionState.RUNNING.value, SessionRow.arch == arch,
                        PackageRow.state == PackageState.NEEDED.value, PackageRow.pending <= 0))
        if limit is not None:
            query = query.order_by((PackageRow.priority + SessionRow.priority).desc(), PackageRow.rank.desc()).limit(limit)
        with self.engine.connect() as db:
            rows = db.execute(query).all()
            failed_on = self._failed_on(db, [r[0] for r in rows if r[7] > 0])
        return [ReadyPackage(pid, sid, cpv, rank, expected, int(prio), order, not_before, frozenset(failed_on.get(pid, ())),
                             slot, repo, tuple(use.split()))
                for pid, sid, cpv, rank, expected, prio, order, not_before, slot, repo, use in rows]

    @staticmethod
    def _failed_on(db: Connection, retried: list[int]) -> dict[int, set[str]]:
        """Drones each retried package failed on (failures an operator cleared do not count)."""
        failed_on: dict[int, set[str]] = {}
        if retried:
            found = db.execute(select(AttemptRow.package_id, AttemptRow.drone).where(
                AttemptRow.package_id.in_(retried), AttemptRow.outcome == Outcome.FAILED.value, AttemptRow.counted.is_(True)))
            for package_id, drone in found:
                if drone:
                    failed_on.setdefault(package_id, set()).add(drone)
        return failed_on

    def failures(self, package_id: int) -> list[FailedAttempt]:
        """The package's failed attempts that still count (``clear_failures`` forgets them), oldest first."""
        query = (select(AttemptRow.drone, AttemptRow.infrastructure)
                 .where(AttemptRow.package_id == package_id, AttemptRow.outcome == Outcome.FAILED.value, AttemptRow.counted.is_(True))
                 .order_by(AttemptRow.finished_at))
        with self._sessions() as db:
            return [FailedAttempt(drone or "?", bool(infra)) for drone, infra in db.execute(query)]

    def requeue(self, package_id: int, not_before: float, reason: str) -> None:
        """Back to ``needed`` (a retry): not dispatched before ``not_before``."""
        with self._sessions.begin() as db:
            pkg = db.get(PackageRow, package_id)
            if pkg is None:
                return
            pkg.state, pkg.not_before, pkg.reason, pkg.current_attempt = PackageState.NEEDED.value, not_before, reason, None
            db.add(event_row(self.clock.now(), "package.retry", f"{pkg.cpv}: {reason}", pkg.session_id, pkg.cpv))

    def block_package(self, package_id: int, reason: str) -> None:
        with self._sessions.begin() as db:
            pkg = db.get(PackageRow, package_id)
            if pkg is None:
                return
            pkg.state, pkg.reason = PackageState.BLOCKED.value, reason
            db.add(event_row(self.clock.now(), "package.blocked", f"{pkg.cpv}: {reason}", pkg.session_id, pkg.cpv))

    def skip_dependents(self, package_id: int, reason: str) -> int:
        """Skip every waiting package whose gates (transitively) hold this one: a walk up the gates index from it,
        never the whole session's gates. An event when it has dependents."""
        walk = select(GateRow.package_id.label("id")).where(GateRow.requires_id == package_id).cte("dependents", recursive=True, nesting=True)
        walk = walk.union(select(GateRow.package_id).join(walk, GateRow.requires_id == walk.c.id))
        with self._sessions.begin() as db:
            session_id = db.scalar(select(PackageRow.session_id).where(PackageRow.id == package_id))
            if session_id is None or db.scalar(select(GateRow.package_id).where(GateRow.requires_id == package_id).limit(1)) is None:
                return 0
            done = rows_matched(db.execute(update(PackageRow).where(PackageRow.id.in_(select(walk.c.id)), PackageRow.state == PackageState.NEEDED.value)
                                           .values(state=PackageState.SKIPPED.value, reason=reason), execution_options={"synchronize_session": False}))
            db.add(event_row(self.clock.now(), "package.skipped", f"{done} packages: {reason}", session_id))
            return done

    def history_seconds(self) -> dict[str, list[float]]:
        """Recorded build seconds per ``category/package``: the swarm's successful builds and imported ones."""
        query = (select(PackageRow.cpv, AttemptRow.build_seconds).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                 .where(AttemptRow.outcome == Outcome.SUCCESS.value, AttemptRow.build_seconds.is_not(None)))
        history: dict[str, list[float]] = {}
        with self._sessions() as db:
            for cpv, seconds in db.execute(query):
                history.setdefault(history_key(cpv), []).append(float(seconds or 0.0))
            for package, seconds in db.execute(select(BuildHistoryRow.package, BuildHistoryRow.seconds)):
                history.setdefault(package, []).append(float(seconds))
        return history

    def import_history(self, builds: Sequence[LoggedBuild], source: str) -> int:
        """Record builds done outside the swarm (an emerge.log); returns how many were new. Idempotent per source."""
        with self._sessions.begin() as db:
            query = select(BuildHistoryRow.cpv, BuildHistoryRow.finished_at).where(BuildHistoryRow.source == source)
            known = {(cpv, finished) for cpv, finished in db.execute(query)}
            rows = {(b.cpv, float(b.finished)): b for b in builds}
            new = [b for key, b in rows.items() if key not in known]
            if new:
                db.execute(insert(BuildHistoryRow), [
                    {"cpv": b.cpv, "package": history_key(b.cpv), "seconds": float(b.seconds), "started_at": float(b.started),
                     "finished_at": float(b.finished), "source": source} for b in new])
                db.add(event_row(self.clock.now(), "history.imported", f"{len(new)} builds from {source}", None, source))
            return len(new)

    def speed_samples(self, arch: str) -> dict[str, list[tuple[float, float]]]:
        """(measured, expected) seconds of each drone of ``arch``: its ``SPEED_WINDOW`` latest successful builds of ``arch``,
        newest first: one bounded walk of ``ix_attempts_drone_outcome_finished`` per drone, never the whole history
        (one statement, compiled once, run per drone)."""
        samples: dict[str, list[tuple[float, float]]] = {}
        with self.engine.connect() as db:
            for name in db.execute(select(DroneRow.name).where(DroneRow.arch == arch).order_by(DroneRow.name)).scalars():
                found = [(float(seconds or 0.0), float(expected)) for seconds, expected in db.execute(_LATEST_SUCCESSES,
                                                                                                      {"b_drone": name, "b_arch": arch})]
                if found:
                    samples[name] = found
        return samples

    def pace_samples(self, arch: str) -> list[tuple[float, float]]:
        """(wall seconds, expected seconds) of the swarm's ``PACE_WINDOW`` latest successful builds of ``arch``."""
        query = (select(AttemptRow.finished_at - AttemptRow.started_at, AttemptRow.expected)
                 .join(SessionRow, SessionRow.id == AttemptRow.session_id)
                 .where(SessionRow.arch == arch, AttemptRow.outcome == Outcome.SUCCESS.value, AttemptRow.started_at.is_not(None),
                        AttemptRow.finished_at.is_not(None), AttemptRow.expected > 0)
                 .order_by(AttemptRow.finished_at.desc()).limit(PACE_WINDOW))
        with self.engine.connect() as db:
            return [(float(wall or 0.0), float(expected)) for wall, expected in db.execute(query)]

    def running_builds(self, arch: str) -> list[RunningBuild]:
        """The current attempts of ``arch`` in flight (started, or sent and not yet started), with their package's rank
        and the drones that failed it."""
        query = (select(AttemptRow.id, AttemptRow.package_id, AttemptRow.session_id, PackageRow.cpv, AttemptRow.drone,
                        AttemptRow.started_at, AttemptRow.dispatched_at, AttemptRow.expected, PackageRow.rank, PackageRow.not_before)
                 .join(PackageRow, PackageRow.current_attempt == AttemptRow.id)
                 .join(SessionRow, SessionRow.id == AttemptRow.session_id)
                 .where(SessionRow.arch == arch, AttemptRow.state.in_(IN_FLIGHT)))
        with self.engine.connect() as db:
            rows = db.execute(query).all()
            failed_on = self._failed_on(db, [r[1] for r in rows if r[9] > 0])
        return [RunningBuild(attempt, package, session, cpv, drone or "?", float(started or dispatched), float(expected or 0.0),
                             float(rank), frozenset(failed_on.get(package, ())))
                for attempt, package, session, cpv, drone, started, dispatched, expected, rank, _ in rows]

    def queued_attempts(self, arch: str) -> list[AttemptInfo]:
        """Attempts dispatched to a drone that has not started them (what ``rebalance`` may take back)."""
        query = (select(AttemptRow, PackageRow.cpv).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                 .join(SessionRow, SessionRow.id == AttemptRow.session_id)
                 .where(SessionRow.arch == arch, AttemptRow.state == AttemptState.DISPATCHED.value,
                        PackageRow.current_attempt == AttemptRow.id))
        with self._sessions() as db:
            return [attempt_info(row, cpv) for row, cpv in db.execute(query)]

    def fence_attempts(self, attempt_ids: Sequence[str], package_state: PackageState, reason: str) -> int:
        """Take attempts back: they become stale (a late report is ignored); their packages go to ``package_state``."""
        if not attempt_ids:
            return 0
        with self._sessions.begin() as db:
            db.execute(update(AttemptRow).where(AttemptRow.id.in_(list(attempt_ids)), AttemptRow.state.in_(IN_FLIGHT))
                       .values(state=AttemptState.STALE.value, error=reason, finished_at=self.clock.now()))
            moved = db.execute(update(PackageRow).where(PackageRow.current_attempt.in_(list(attempt_ids)))
                               .values(state=package_state.value, current_attempt=None, reason=reason))
            return rows_matched(moved)
