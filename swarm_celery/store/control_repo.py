"""Control side of the store: find packages by atom, forget failures, reopen, cancel.

A mixin of :class:`~swarm_celery.store.repository.SqlStore`; used by
``services/control.py``. Each method is one transaction and idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from swarm_celery.domain.controls import matches_atom
from swarm_celery.domain.model import PackageState, SessionState
from swarm_celery.domain.records import PackageInfo
from swarm_celery.store.dispatch_repo import IN_FLIGHT, RepoBase
from swarm_celery.store.models import AttemptRow, DroneRow, PackageRow, SessionRow
from swarm_celery.store.rows import event_row, package_info, rows_matched

OPEN_SESSIONS = (SessionState.RUNNING.value, SessionState.COMPLETE.value)
REOPENABLE = (PackageState.BLOCKED.value, PackageState.FAILED.value, PackageState.SKIPPED.value, PackageState.CANCELLED.value)


class ControlRepo(RepoBase):
    def find_packages(self, atom: str, session_id: str = "") -> list[PackageInfo]:
        """Packages matching ``atom`` in ``session_id``, or in every running or complete session (newest first)."""
        query = select(PackageRow).join(SessionRow, SessionRow.id == PackageRow.session_id)
        query = query.where(SessionRow.id == session_id) if session_id else query.where(SessionRow.state.in_(OPEN_SESSIONS))
        name = atom.lstrip("=")
        prefix = name.split("/", 1)[0] + "/"
        with self._sessions() as db:
            rows = db.scalars(query.where(PackageRow.cpv.startswith(prefix)).order_by(SessionRow.created_at.desc())).all()
            return [package_info(r) for r in rows if matches_atom(atom, r.cpv)]

    def packages_in_state(self, states: Sequence[PackageState], session_id: str = "") -> list[PackageInfo]:
        query = select(PackageRow).join(SessionRow, SessionRow.id == PackageRow.session_id).where(
            PackageRow.state.in_([s.value for s in states]))
        query = query.where(SessionRow.id == session_id) if session_id else query.where(SessionRow.state.in_(OPEN_SESSIONS))
        with self._sessions() as db:
            return [package_info(r) for r in db.scalars(query)]

    def package_states(self, session_id: str) -> dict[str, PackageState]:
        with self._sessions() as db:
            rows = db.execute(select(PackageRow.cpv, PackageRow.state).where(PackageRow.session_id == session_id))
            return {cpv: PackageState(state) for cpv, state in rows}

    def forget_failures(self, package_ids: Sequence[int] = (), drone: str = "") -> int:
        """Failed attempts stop counting (retry limits, excluded drones); returns how many were forgotten."""
        query = update(AttemptRow).where(AttemptRow.outcome == "failed", AttemptRow.counted.is_(True))
        if package_ids:
            query = query.where(AttemptRow.package_id.in_(list(package_ids)))
        if drone:
            query = query.where(AttemptRow.drone == drone)
        with self._sessions.begin() as db:
            forgotten = rows_matched(db.execute(query.values(counted=False)))
            if drone:
                db.execute(update(DroneRow).where(DroneRow.name == drone).values(failures=0))
            return forgotten

    def reopen(self, package_ids: Sequence[int], reason: str) -> int:
        """Blocked, failed, skipped or cancelled packages go back to ``needed``; their sessions run again."""
        if not package_ids:
            return 0
        with self._sessions.begin() as db:
            moved = rows_matched(db.execute(update(PackageRow).where(
                PackageRow.id.in_(list(package_ids)), PackageRow.state.in_(REOPENABLE)).values(
                state=PackageState.NEEDED.value, reason="", not_before=0.0, current_attempt=None)))
            sessions = select(PackageRow.session_id).where(PackageRow.id.in_(list(package_ids))).scalar_subquery()
            db.execute(update(SessionRow).where(SessionRow.id.in_(sessions), SessionRow.state == SessionState.COMPLETE.value)
                       .values(state=SessionState.RUNNING.value, finished_at=None))
            if moved:
                db.add(event_row(self.clock.now(), "package.reopened", f"{moved} packages back in the queue: {reason}", None))
            return moved

    def in_flight(self, package_ids: Sequence[int] = (), session_id: str = "") -> list[str]:
        """Current attempts still dispatched or running (of these packages, or of a session)."""
        query = select(AttemptRow.id).join(PackageRow, PackageRow.current_attempt == AttemptRow.id).where(AttemptRow.state.in_(IN_FLIGHT))
        if package_ids:
            query = query.where(PackageRow.id.in_(list(package_ids)))
        if session_id:
            query = query.where(PackageRow.session_id == session_id)
        with self._sessions() as db:
            return list(db.scalars(query))

    def cancel_session(self, session_id: str, reason: str) -> bool:
        """No more dispatches: the session and its waiting packages are cancelled. False when no such session."""
        with self._sessions.begin() as db:
            row = db.get(SessionRow, session_id)
            if row is None:
                return False
            if row.state in (SessionState.CANCELLED.value, SessionState.FAILED.value):
                return True
            row.state, row.finished_at, row.error = SessionState.CANCELLED.value, self.clock.now(), reason
            db.execute(update(PackageRow).where(PackageRow.session_id == session_id, PackageRow.state == PackageState.NEEDED.value)
                       .values(state=PackageState.CANCELLED.value, reason=reason))
            db.add(event_row(self.clock.now(), "session.cancelled", reason, session_id))
            return True
