"""Read-side queries for the CLI and the demo's progress display (JSON-able dicts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from swarm_celery.domain.model import IN_FLIGHT_STATES, PackageState
from swarm_celery.store.models import AttemptRow, DroneRow, EventRow, HealthRow, PackageRow, ProbeRow, SessionRow


class Queries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest_session(self) -> str | None:
        with Session(self.engine) as db:
            return db.scalar(select(SessionRow.id).order_by(SessionRow.created_at.desc()).limit(1))

    def session(self, session_id: str) -> dict[str, Any] | None:
        found = self._sessions_where(SessionRow.id == session_id, 1)
        return found[0] if found else None

    def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest sessions first, each as :meth:`session` shows it (two queries, however many)."""
        return self._sessions_where(None, limit)

    def _sessions_where(self, where: Any, limit: int) -> list[dict[str, Any]]:
        query = select(SessionRow).order_by(SessionRow.created_at.desc()).limit(limit)
        with Session(self.engine) as db:
            rows = db.execute(query if where is None else query.where(where)).scalars().all()
            counted = db.execute(select(PackageRow.session_id, PackageRow.state, func.count())
                                 .where(PackageRow.session_id.in_([r.id for r in rows])).group_by(PackageRow.session_id, PackageRow.state))
            counts: dict[str, dict[str, int]] = {}
            for session_id, state, count in counted:
                counts.setdefault(session_id, {})[state] = int(count)
        return [_session_dict(row, counts.get(row.id, {})) for row in rows]

    def attempt(self, attempt_id: str) -> dict[str, Any] | None:
        """State, drone and queue of one attempt (who may upload for it)."""
        with Session(self.engine) as db:
            row = db.get(AttemptRow, attempt_id)
            return None if row is None else {"attempt": row.id, "state": row.state, "drone": row.drone, "queue": row.queue,
                                             "session": row.session_id}

    def running(self, session_id: str) -> list[dict[str, Any]]:
        """Packages being built right now, with their drone."""
        query = (select(PackageRow.cpv, AttemptRow.drone, AttemptRow.started_at)
                 .join(AttemptRow, AttemptRow.id == PackageRow.current_attempt)
                 .where(PackageRow.session_id == session_id, PackageRow.state == PackageState.BUILDING.value))
        with Session(self.engine) as db:
            return [{"cpv": c, "drone": d, "started_at": s} for c, d, s in db.execute(query)]

    def history(self, session_id: str) -> list[dict[str, Any]]:
        query = (select(AttemptRow, PackageRow.cpv).join(PackageRow, PackageRow.id == AttemptRow.package_id)
                 .where(AttemptRow.session_id == session_id).order_by(AttemptRow.dispatched_at))
        with Session(self.engine) as db:
            rows = db.execute(query).all()
        return [
            {"attempt": a.id, "cpv": cpv, "drone": a.drone, "state": a.state, "outcome": a.outcome, "queue": a.queue,
             "dispatched_at": a.dispatched_at, "started_at": a.started_at, "finished_at": a.finished_at,
             "published_at": a.published_at, "artifact": a.artifact, "sha256": a.sha256, "error": a.error,
             "failure_kind": a.failure_kind, "infrastructure": a.infrastructure, "build_seconds": a.build_seconds}
            for a, cpv in ((r[0], r[1]) for r in rows)
        ]

    def queue(self, session_id: str | None) -> list[dict[str, Any]]:
        """Packages not yet finished: waiting (needed), dispatched or building."""
        states = [PackageState.NEEDED.value, *(s.value for s in IN_FLIGHT_STATES)]
        query = select(PackageRow.session_id, PackageRow.cpv, PackageRow.state, PackageRow.merge_index).where(PackageRow.state.in_(states))
        if session_id:
            query = query.where(PackageRow.session_id == session_id)
        with Session(self.engine) as db:
            rows = db.execute(query.order_by(PackageRow.session_id, PackageRow.merge_index)).all()
        return [{"session": s, "cpv": c, "state": st, "merge_index": i} for s, c, st, i in rows]

    def fleet(self) -> list[dict[str, Any]]:
        """Every drone that announced itself or was probed, with its latest probe (``health``, None when never probed)."""
        with Session(self.engine) as db:
            rows = db.execute(select(DroneRow).order_by(DroneRow.name)).scalars().all()
            busy = dict(db.execute(select(AttemptRow.drone, func.count()).where(AttemptRow.state.in_(("dispatched", "started")))
                                   .group_by(AttemptRow.drone)).all())
            health = latest_health(db)
        known = {d.name for d in rows}
        return sorted(self._drones(rows, busy, health) + [_unannounced(name, h) for name, h in health.items() if name not in known],
                      key=lambda d: str(d["name"]))

    def probes(self, drone: str, limit: int = 50) -> list[dict[str, Any]]:
        """A drone's health history, newest first."""
        with Session(self.engine) as db:
            rows = db.execute(select(ProbeRow).where(ProbeRow.drone == drone).order_by(ProbeRow.id.desc()).limit(limit)).scalars().all()
            return [probe_dict(r, "") for r in rows]

    @staticmethod
    def _drones(rows: Sequence[DroneRow], busy: dict[Any, Any], health: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"name": d.name, "arch": d.arch, "state": d.state, "first_seen": d.first_seen, "last_seen": d.last_seen,
                 "builds": d.builds, "failures": d.failures, "cores": d.cores, "memory_mb": d.memory_mb,
                 "disk_free_mb": d.disk_free_mb, "slots": d.slots, "in_flight": int(busy.get(d.name, 0)), "paused": d.paused,
                 "grounded_until": d.grounded_until or None, "tree_timestamp": d.tree_timestamp or "", "profile": d.profile or "",
                 "payload_version": d.payload_version or "", "builder": d.builder or "", "health": health.get(d.name)} for d in rows]

    def packages(self, session_id: str) -> list[dict[str, Any]]:
        query = select(PackageRow).where(PackageRow.session_id == session_id).order_by(PackageRow.merge_index)
        with Session(self.engine) as db:
            rows = db.execute(query).scalars().all()
        return [{"cpv": p.cpv, "state": p.state, "reason": p.reason, "slot": p.slot, "repo": p.repo, "identity": p.identity,
                 "change": p.change, "slot_deps": p.slot_deps}
                for p in rows]

    def event_for(self, subject: str) -> str | None:
        """The message of the newest control event about ``subject`` (a control request id)."""
        query = select(EventRow.message).where(EventRow.subject == subject, EventRow.kind.startswith("control.")).order_by(EventRow.id.desc())
        with Session(self.engine) as db:
            return db.execute(query.limit(1)).scalar()

    def events(self, session_id: str | None, limit: int = 50, kind: str = "", since: float = 0.0,
               subject: str = "") -> list[dict[str, Any]]:
        """The newest ``limit`` events, oldest first: of a session, whose kind starts with ``kind``, after ``since``."""
        query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
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
        return [{"ts": e.ts, "kind": e.kind, "subject": e.subject, "message": e.message} for e in reversed(rows)]


def _session_dict(row: SessionRow, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "session": row.id, "state": row.state, "arch": row.arch, "profile": row.profile,
        "config_hash": row.config_hash, "simulated": row.simulated, "error": row.error, "priority": row.priority,
        "created_at": row.created_at, "planned_at": row.planned_at, "finished_at": row.finished_at,
        "planned": sum(counts.values()), "counts": {s.value: counts.get(s.value, 0) for s in PackageState},
    }


def latest_health(db: Session) -> dict[str, dict[str, Any]]:
    """Each probed drone's latest probe row, with its healing level and stale-tree hold."""
    newest = select(ProbeRow.drone, func.max(ProbeRow.id).label("id")).group_by(ProbeRow.drone).subquery()
    rows = db.execute(select(ProbeRow).join(newest, newest.c.id == ProbeRow.id)).scalars().all()
    holds = {str(d): str(h) for d, h in db.execute(select(HealthRow.drone, HealthRow.tree_hold))}
    return {r.drone: probe_dict(r, holds.get(r.drone, "")) for r in rows}


def probe_dict(r: ProbeRow, hold: str) -> dict[str, Any]:
    return {"at": r.ts, "answered": r.answered, "reachable": r.reachable, "error": r.error,
            "load": [r.load1, r.load5, r.load15] if r.load1 is not None else None, "mem_total_mb": r.mem_total_mb,
            "mem_avail_mb": r.mem_avail_mb, "build_free_mb": r.build_free_mb, "pkgdir_free_mb": r.pkgdir_free_mb,
            "tree": r.tree, "manager": r.manager, "emerges": r.emerges, "stuck": r.stuck,
            "findings": json.loads(r.findings or "[]"), "level": r.level, "tree_hold": hold, "sync": r.sync}


def _unannounced(name: str, health: dict[str, Any]) -> dict[str, Any]:
    """A drone of the inventory whose worker never announced itself: only what the probe knows."""
    return {"name": name, "arch": "", "state": "unannounced", "first_seen": None, "last_seen": None, "builds": 0, "failures": 0,
            "cores": 0, "memory_mb": 0, "disk_free_mb": 0, "slots": 0, "in_flight": 0, "paused": False, "grounded_until": None,
            "tree_timestamp": "", "profile": "", "payload_version": "", "builder": "", "health": health}
