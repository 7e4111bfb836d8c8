"""Lease side of the store: heartbeats renew the attempts a drone runs; reclaim takes expired ones back.

A mixin of :class:`~swarm_celery.store.repository.SqlStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update

from swarm_celery.domain.leases import Lease, Reclaim
from swarm_celery.domain.model import AttemptState, PackageState
from swarm_celery.store.dispatch_repo import IN_FLIGHT, RepoBase
from swarm_celery.store.models import AttemptRow, DroneRow, PackageRow
from swarm_celery.store.rows import event_row


class LeaseRepo(RepoBase):
    def renew_leases(self, drone: str, attempt_ids: Sequence[str]) -> int:
        """The drone says it is running these builds: their leases run from now (only its own attempts in flight)."""
        if not attempt_ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(update(AttemptRow).where(
                AttemptRow.id.in_(list(attempt_ids)), AttemptRow.state.in_(IN_FLIGHT),
                or_(AttemptRow.drone == drone, AttemptRow.queue == f"drone.{drone}")).values(beat_at=self.clock.now()))
            return int(done.rowcount)

    def leases(self) -> tuple[list[Lease], dict[str, float]]:
        """Every current attempt in flight as a lease, and when each drone was last heard from."""
        query = (select(AttemptRow.id, PackageRow.cpv, AttemptRow.drone, AttemptRow.queue, AttemptRow.state, AttemptRow.dispatched_at,
                        AttemptRow.started_at, AttemptRow.beat_at)
                 .join(PackageRow, PackageRow.current_attempt == AttemptRow.id).where(AttemptRow.state.in_(IN_FLIGHT)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            seen = {name: float(last) for name, last in conn.execute(select(DroneRow.name, DroneRow.last_seen))}
        leases = [Lease(a_id, cpv, drone or queue.removeprefix("drone."), state == AttemptState.STARTED.value,
                        max(t for t in (dispatched, started, beat) if t is not None))
                  for a_id, cpv, drone, queue, state, dispatched, started, beat in rows]
        return leases, seen

    def reclaim_attempts(self, reclaims: Sequence[Reclaim]) -> int:
        """Fence each attempt (a late report is recorded stale, its upload refused) and put its package back to ``needed``."""
        now, moved = self.clock.now(), 0
        with self._sessions.begin() as db:
            for item in reclaims:
                attempt = db.get(AttemptRow, item.attempt_id)
                if attempt is None or attempt.state not in IN_FLIGHT:
                    continue
                attempt.state, attempt.error, attempt.finished_at = AttemptState.STALE.value, f"reclaimed: {item.reason}", now
                pkg = db.get(PackageRow, attempt.package_id)
                if pkg is not None and pkg.current_attempt == item.attempt_id:
                    pkg.state, pkg.current_attempt, pkg.reason = PackageState.NEEDED.value, None, f"reclaimed: {item.reason}"
                    moved += 1
                db.add(event_row(now, "attempt.reclaimed", item.reason, attempt.session_id, item.attempt_id))
        return moved
