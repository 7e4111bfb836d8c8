"""Row ↔ record conversion shared by the repository modules (ORM objects or Core rows: same attribute names)."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import CursorResult

from swarm_celery.domain.model import AttemptState, PackageState, SessionState
from swarm_celery.domain.records import AttemptInfo, PackageInfo, SessionInfo
from swarm_celery.store.models import AttemptRow, EventRow, PackageRow, SessionRow

log = logging.getLogger("swarm_celery.events")


def rows_matched(result: Any) -> int:
    """Rows matched by an UPDATE (a CursorResult; the ORM types it as Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


def event_row(ts: float, kind: str, message: str, session_id: str | None, subject: str = "") -> EventRow:
    """An event for the record, also streamed to the log (the coordinator's stdout)."""
    log.info("event %s [%s] %s", kind, subject or "-", message)
    return EventRow(ts=ts, kind=kind, message=message, session_id=session_id, subject=subject)


def session_info(row: SessionRow | Any) -> SessionInfo:
    return SessionInfo(
        id=row.id, state=SessionState(row.state), arch=row.arch, gentoo_profile=row.gentoo_profile, request_json=row.request_json,
        error=row.error, created_at=row.created_at, planned_at=row.planned_at, finished_at=row.finished_at,
        simulated=row.simulated, config_hash=row.config_hash, build_profile=row.build_profile or "", reuse=bool(row.reuse),
    )


def package_info(row: PackageRow | Any) -> PackageInfo:
    return PackageInfo(
        id=row.id, session_id=row.session_id, cpv=row.cpv, slot=row.slot, sub_slot=row.sub_slot, repo=row.repo,
        use=tuple(row.use.split()), merge_index=row.merge_index, state=PackageState(row.state),
        current_attempt=row.current_attempt, reason=row.reason, expected=row.expected, rank=row.rank,
        priority=row.priority, not_before=row.not_before, pending=row.pending, slot_deps=tuple((row.slot_deps or "").split()),
    )


def attempt_info(row: AttemptRow | Any, cpv: str) -> AttemptInfo:
    return AttemptInfo(
        id=row.id, package_id=row.package_id, session_id=row.session_id, cpv=cpv, queue=row.queue, drone=row.drone,
        state=AttemptState(row.state), outcome=row.outcome, dispatched_at=row.dispatched_at, started_at=row.started_at,
        finished_at=row.finished_at, published_at=row.published_at, log_tail=row.log_tail, error=row.error,
        expected=row.expected, build_seconds=row.build_seconds, failure_kind=row.failure_kind, infrastructure=row.infrastructure,
    )
