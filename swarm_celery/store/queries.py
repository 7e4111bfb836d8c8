"""The query side: what the CLI, the API, the metrics and the demo read, as typed views (domain.views)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from swarm_celery.domain.model import IN_FLIGHT_STATES, PackageState
from swarm_celery.domain.views import (
    AttemptOwner,
    AttemptView,
    DroneView,
    EventView,
    FindingView,
    PackageView,
    ProbeView,
    QueuedPackage,
    RunningBuild,
    SessionView,
)
from swarm_celery.store.board_queries import BoardQueries
from swarm_celery.store.models import AttemptRow, DroneRow, EventRow, HealthRow, PackageRow, ProbeRow, SessionRow


class Queries(BoardQueries):
    """``offline_after``: a drone silent this long reads as offline, whether or not a coordinator marked it so."""

    def __init__(self, engine: Engine, offline_after: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.offline_after = offline_after
        self.clock = clock
        self._paces: dict[str, tuple[float, float]] = {}

    def integrity(self) -> str:
        """"" when the record reads whole; else what is wrong. SQLite checks every page (``PRAGMA quick_check``), so a
        damaged page anywhere shows here, not only in the query that happens to touch it."""
        with self.engine.connect() as db:
            if db.dialect.name != "sqlite":
                db.execute(select(1))
                return ""
            found = [str(row[0]) for row in db.exec_driver_sql("PRAGMA quick_check(5)")]
        if found == ["ok"]:
            return ""
        lines = [line for row in found for line in row.splitlines() if line.strip() and not line.startswith("***")]
        return "; ".join(lines)[:500]  # one line: SQLite's report spans several

    def latest_session(self) -> str | None:
        with Session(self.engine) as db:
            return db.scalar(select(SessionRow.id).order_by(SessionRow.created_at.desc()).limit(1))

    def session(self, session_id: str) -> SessionView | None:
        found = self._sessions_where(SessionRow.id == session_id, 1)
        return found[0] if found else None

    def sessions(self, limit: int = 50) -> list[SessionView]:
        """The newest sessions first, each as :meth:`session` shows it (two queries, however many)."""
        return self._sessions_where(None, limit)

    def _sessions_where(self, where: Any, limit: int) -> list[SessionView]:
        return [view for view, _ in self.sessions_ranked(where, limit)]

    def sessions_ranked(self, where: Any, limit: int) -> list[tuple[SessionView, dict[str, float]]]:
        """Sessions (newest first) with their counts, and each state's longest remaining critical path: one GROUP BY for all."""
        query = select(SessionRow).order_by(SessionRow.created_at.desc()).limit(limit)
        with Session(self.engine) as db:
            rows = db.execute(query if where is None else query.where(where)).scalars().all()
            counted = db.execute(select(PackageRow.session_id, PackageRow.state, func.count(), func.max(PackageRow.rank))
                                 .where(PackageRow.session_id.in_([r.id for r in rows])).group_by(PackageRow.session_id, PackageRow.state))
            counts: dict[str, dict[str, int]] = {}
            ranks: dict[str, dict[str, float]] = {}
            for session_id, state, count, rank in counted:
                counts.setdefault(session_id, {})[state] = int(count)
                ranks.setdefault(session_id, {})[state] = float(rank or 0.0)
        return [(_session_view(row, counts.get(row.id, {})), ranks.get(row.id, {})) for row in rows]

    def attempt(self, attempt_id: str) -> AttemptOwner | None:
        """State, drone and queue of one attempt (who may upload for it)."""
        with Session(self.engine) as db:
            row = db.get(AttemptRow, attempt_id)
            return None if row is None else AttemptOwner(row.id, row.state, row.drone, row.queue, row.session_id)

    def running(self, session_id: str) -> list[RunningBuild]:
        """Packages being built right now, with their drone."""
        query = (select(PackageRow.cpv, AttemptRow.drone, AttemptRow.started_at, AttemptRow.id, AttemptRow.expected)
                 .join(AttemptRow, AttemptRow.id == PackageRow.current_attempt)
                 .where(PackageRow.session_id == session_id, PackageRow.state == PackageState.BUILDING.value))
        with Session(self.engine) as db:
            return [RunningBuild(c, d, s, a, e or 0.0) for c, d, s, a, e in db.execute(query)]

    def history(self, session_id: str) -> list[AttemptView]:
        return self.history_rows([AttemptRow.session_id == session_id])

    def history_rows(self, where: list[Any]) -> list[AttemptView]:
        """Attempts (with their package) that meet every condition of ``where``, in dispatch order."""
        query = (select(AttemptRow, PackageRow.cpv).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                 .where(*where).order_by(AttemptRow.dispatched_at))
        with Session(self.engine) as db:
            rows = db.execute(query).all()
        return [AttemptView(a.id, cpv, a.drone, a.state, a.outcome, a.queue, a.dispatched_at, a.started_at, a.finished_at, a.published_at,
                            a.artifact, a.sha256, a.error, a.failure_kind, a.infrastructure, a.build_seconds) for a, cpv in rows]

    def queue(self, session_id: str | None) -> list[QueuedPackage]:
        """Packages not yet finished: waiting (needed), dispatched or building."""
        states = [PackageState.NEEDED.value, *(s.value for s in IN_FLIGHT_STATES)]
        query = select(PackageRow.session_id, PackageRow.cpv, PackageRow.state, PackageRow.merge_index).where(PackageRow.state.in_(states))
        if session_id:
            query = query.where(PackageRow.session_id == session_id)
        with Session(self.engine) as db:
            rows = db.execute(query.order_by(PackageRow.session_id, PackageRow.merge_index)).all()
        return [QueuedPackage(s, c, st, i) for s, c, st, i in rows]

    def fleet(self) -> list[DroneView]:
        """Every drone that announced itself or was probed, with its latest probe (``health``, None when never probed)."""
        with Session(self.engine) as db:
            rows = db.execute(select(DroneRow).order_by(DroneRow.name)).scalars().all()
            busy = dict(db.execute(select(AttemptRow.drone, func.count()).where(AttemptRow.state.in_(("dispatched", "started")))
                                   .group_by(AttemptRow.drone)).all())
            health = latest_health(db)
        known = {d.name for d in rows}
        return sorted(self._drones(rows, busy, health) + [_unannounced(name, h) for name, h in health.items() if name not in known],
                      key=lambda d: d.name)

    def probes(self, drone: str, limit: int = 50) -> list[ProbeView]:
        """A drone's health history, newest first."""
        with Session(self.engine) as db:
            rows = db.execute(select(ProbeRow).where(ProbeRow.drone == drone).order_by(ProbeRow.id.desc()).limit(limit)).scalars().all()
            return [probe_view(r, "") for r in rows]

    def _drones(self, rows: Sequence[DroneRow], busy: dict[Any, Any], health: dict[str, ProbeView]) -> list[DroneView]:
        now = self.clock()
        return [DroneView(d.name, d.arch, self._state(d, now), d.first_seen, d.last_seen, d.builds, d.failures, d.cores, d.memory_mb, d.disk_free_mb,
                          d.slots, int(busy.get(d.name, 0)), d.paused, d.grounded_until or None, d.tree_timestamp or "", d.gentoo_profile or "",
                          d.payload_version or "", d.builder or "", health.get(d.name), payload_hash=d.payload_hash or "") for d in rows]

    def _state(self, drone: DroneRow, now: float) -> str:
        """Its state as of now: a drone last seen longer ago than ``offline_after`` is offline (it stopped without a goodbye)."""
        if drone.state == "online" and now - drone.last_seen > self.offline_after:
            return "offline"
        return drone.state

    def packages(self, session_id: str) -> list[PackageView]:
        query = select(PackageRow).where(PackageRow.session_id == session_id).order_by(PackageRow.merge_index)
        with Session(self.engine) as db:
            rows = db.execute(query).scalars().all()
        return [PackageView(p.cpv, p.state, p.reason, p.slot, p.repo, p.identity, p.change, p.slot_deps, p.pending, p.rank) for p in rows]

    def event_for(self, subject: str) -> str | None:
        """The message of the newest control event about ``subject`` (a control request id)."""
        query = select(EventRow.message).where(EventRow.subject == subject, EventRow.kind.startswith("control.")).order_by(EventRow.id.desc())
        with Session(self.engine) as db:
            return db.execute(query.limit(1)).scalar()

    def events(self, session_id: str | None, limit: int = 50, kind: str = "", since: float = 0.0,
               subject: str = "", after_id: int = 0) -> list[EventView]:
        """The newest ``limit`` events, oldest first: of a session, whose kind starts with ``kind``, after ``since`` (and id)."""
        query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        if after_id:
            query = query.where(EventRow.id > after_id)
        if session_id:
            query = query.where(EventRow.session_id == session_id)
        if kind:
            query = query.where(EventRow.kind.startswith(kind, autoescape=True))
        if since:
            query = query.where(EventRow.ts >= since)
        if subject:
            query = query.where(EventRow.subject == subject)
        with Session(self.engine) as db:
            rows = db.execute(query).scalars().all()
        return [EventView(e.ts, e.kind, e.subject, e.message, e.id) for e in reversed(rows)]


def _session_view(row: SessionRow, counts: dict[str, int]) -> SessionView:
    return SessionView(session=row.id, state=row.state, arch=row.arch, gentoo_profile=row.gentoo_profile, config_hash=row.config_hash,
                       simulated=row.simulated, error=row.error, priority=row.priority, created_at=row.created_at,
                       planned_at=row.planned_at, finished_at=row.finished_at, planned=sum(counts.values()),
                       counts={s.value: counts.get(s.value, 0) for s in PackageState}, build_profile=row.build_profile or "")


def latest_health(db: Session) -> dict[str, ProbeView]:
    """Each probed drone's latest probe row, with its healing level and stale-tree hold."""
    newest = select(ProbeRow.drone, func.max(ProbeRow.id).label("id")).group_by(ProbeRow.drone).subquery()
    rows = db.execute(select(ProbeRow).join(newest, newest.c.id == ProbeRow.id)).scalars().all()
    holds = {str(d): str(h) for d, h in db.execute(select(HealthRow.drone, HealthRow.tree_hold))}
    return {r.drone: probe_view(r, holds.get(r.drone, "")) for r in rows}


def probe_view(r: ProbeRow, hold: str) -> ProbeView:
    load = (r.load1, r.load5 or 0.0, r.load15 or 0.0) if r.load1 is not None else None
    findings = tuple(FindingView(str(f.get("kind", "")), str(f.get("message", ""))) for f in json.loads(r.findings or "[]"))
    return ProbeView(r.ts, r.answered, r.reachable, r.error, load, r.mem_total_mb, r.mem_avail_mb, r.build_free_mb, r.pkgdir_free_mb,
                     r.tree, r.manager, r.emerges, r.stuck, findings, r.level, hold, r.sync)


def _unannounced(name: str, health: ProbeView) -> DroneView:
    """A drone of the inventory whose worker never announced itself: only what the probe knows."""
    return DroneView(name, "", "unannounced", None, None, 0, 0, 0, 0, 0, 0, 0, False, None, "", "", "", "", health)
