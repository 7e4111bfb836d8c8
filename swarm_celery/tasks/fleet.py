"""Fleet tasks (queue ``periodic``, beat): ``swarm.probe_fleet``, a shim over services.fleet.FleetDoctor, ``swarm.audit_fleet``
over services.audit.DriftWatch,
and the :class:`~swarm_celery.ports.Pinger` port on Celery's ``inspect ping``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence

from celery import Celery

from swarm_celery.domain.model import drone_node, drone_of_node
from swarm_celery.domain.trust import refusal
from swarm_celery.services.audit import DriftWatch
from swarm_celery.services.fleet import FleetDoctor
from swarm_celery.tasks.batches import one_writer

log = logging.getLogger(__name__)


class CeleryPinger:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def answering(self, timeout: float, names: Sequence[str]) -> frozenset[str]:
        """Which of ``names`` answered. Only their workers are asked (node names ``drone.<name>@host``, escaped), each
        reply is matched to its drone by its node name, and the wait ends once every one answered (else at ``timeout``):
        the coordinator's worker, or a second worker of one drone, cannot stand in for a drone that is silent."""
        found: set[str] = set()
        deadline = time.monotonic() + timeout
        while missing := sorted(set(names) - found):
            left = deadline - time.monotonic()
            if left <= 0.05:
                break
            pattern = "^(?:" + "|".join(re.escape(drone_node(name)) for name in missing) + ")@"
            replies = self.app.control.ping(timeout=left, limit=len(missing), pattern=pattern, matcher="pcre") or []
            answered = {drone_of_node(node) for reply in replies for node in reply} & set(missing)
            if not answered:
                break  # the whole wait passed: the rest are silent
            found |= {name for name in answered if name}
        return frozenset(found)


def register(app: Celery, doctor: Callable[[], FleetDoctor], signing: bool = False) -> None:
    @app.task(name="swarm.probe_fleet")  # type: ignore[untyped-decorator]
    def probe_fleet(signed_by: str = "") -> list[dict[str, object]]:
        """Beat: probe every drone, hold stale trees, walk the healing ladder (services.fleet.FleetDoctor)."""
        if refusal("swarm.probe_fleet", signed_by, signing):
            log.warning("swarm.probe_fleet from %r refused: only the coordinator's certificate may send it", signed_by)
            return []
        with one_writer():
            return [check.to_json() for check in doctor().probe_round()]


def register_audit(app: Celery, watch: Callable[[], DriftWatch], signing: bool = False) -> None:
    @app.task(name="swarm.audit_fleet")  # type: ignore[untyped-decorator]
    def audit_fleet(signed_by: str = "") -> list[dict[str, object]]:
        """Beat, daily: every drone host against the golden spec over SSH (outside the writer's lock), then drift recorded
        as an event and, with SWARM_AUDIT_HOLD, the drone held (services.audit.DriftWatch)."""
        if refusal("swarm.audit_fleet", signed_by, signing):
            log.warning("swarm.audit_fleet from %r refused: only the coordinator's certificate may send it", signed_by)
            return []
        found = watch()
        audits = found.auditor.audit()
        with one_writer():
            found.record(audits)
        return [audit.to_json() for audit in audits]
