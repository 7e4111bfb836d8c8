"""Health side of the store: fleet probe rows, each drone's healing ladder, and the stale-tree hold.

A mixin of :class:`~swarm_celery.store.repository.SqlStore` (port :class:`~swarm_celery.ports.HealthStore`).
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from swarm_celery.domain.fleet import DroneCheck
from swarm_celery.domain.healing import DroneHealth, Ladder, Level
from swarm_celery.store.dispatch_repo import RepoBase
from swarm_celery.store.models import DroneRow, HealthRow, ProbeRow
from swarm_celery.store.rows import event_row


class HealthRepo(RepoBase):
    def known_drones(self) -> list[str]:
        """Every drone that ever announced itself."""
        with self.engine.connect() as db:
            return [str(n) for n in db.execute(select(DroneRow.name).order_by(DroneRow.name)).scalars()]

    def record_check(self, check: DroneCheck) -> None:
        """One row of the drone's health history."""
        p = check.probe
        load = p.load if p and p.load else (None, None, None)
        row = ProbeRow(
            drone=check.name, ts=check.at, answered=check.answered, reachable=check.reachable, error=check.error[:2000],
            load1=load[0], load5=load[1], load15=load[2], mem_total_mb=p.mem_total_mb if p else None,
            mem_avail_mb=p.mem_avail_mb if p else None, build_free_mb=p.build_free_mb if p else None,
            pkgdir_free_mb=p.pkgdir_free_mb if p else None, tree=p.tree if p else "", manager=p.manager if p else "",
            emerges=len(p.emerges) if p else 0, sync=p.sync.label if p and p.sync else "", stuck=sum(f.kind == "emerge.stuck" for f in check.findings),
            findings=json.dumps([{"kind": f.kind, "message": f.message} for f in check.findings]), level=check.level)
        with self._sessions.begin() as db:
            db.add(row)

    def health(self, name: str) -> DroneHealth:
        with self._sessions() as db:
            row = db.get(HealthRow, name)
            if row is None:
                return DroneHealth()
            return DroneHealth(Ladder(Level(row.level), row.acted_at, row.silent_since), row.error,
                               frozenset(k for k in row.findings.split(",") if k), row.sync_asked_at)

    def save_health(self, name: str, health: DroneHealth) -> None:
        with self._sessions.begin() as db:
            row = self._health_row(db, name)
            row.level, row.acted_at, row.silent_since = int(health.ladder.level), health.ladder.acted_at, health.ladder.silent_since
            row.error, row.findings = health.error[:2000], ",".join(sorted(health.findings))
            row.sync_asked_at = health.sync_asked_at

    def set_tree_hold(self, name: str, reason: str) -> bool:
        """Hold a drone with a stale tree (it gets no work), or with "" lift the hold. True (and an event) on change."""
        with self._sessions.begin() as db:
            row = self._health_row(db, name)
            if row.tree_hold == reason:
                return False
            if reason:
                db.add(event_row(self.clock.now(), "drone.tree_stale", reason, None, name))
            else:
                db.add(event_row(self.clock.now(), "drone.tree_synced", f"{name}: its tree is current again; it takes work", None, name))
            row.tree_hold = reason
            return True

    def tree_holds(self) -> dict[str, str]:
        """Drones held for a stale tree, with why."""
        with self.engine.connect() as db:
            return {str(d): str(r) for d, r in db.execute(select(HealthRow.drone, HealthRow.tree_hold).where(HealthRow.tree_hold != ""))}

    @staticmethod
    def _health_row(db: Session, name: str) -> HealthRow:
        row = db.get(HealthRow, name)
        if row is None:
            row = HealthRow(drone=name, level=0, acted_at=0.0, silent_since=0.0, error="", findings="", tree_hold="",
                            sync_asked_at=0.0)
            db.add(row)
        return row
