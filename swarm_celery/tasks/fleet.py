"""Fleet task (queue ``periodic``, beat): ``swarm.probe_fleet``, a shim over services.fleet.FleetDoctor,
and the :class:`~swarm_celery.ports.Pinger` port on Celery's ``inspect ping``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Celery

from swarm_celery.domain.trust import refusal
from swarm_celery.services.fleet import FleetDoctor
from swarm_celery.tasks.batches import one_writer

log = logging.getLogger(__name__)


class CeleryPinger:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def answering(self, timeout: float, expect: int) -> frozenset[str]:
        """Names of the workers that answered (a drone's worker is ``NAME@host``); done early once ``expect`` did."""
        replies = self.app.control.ping(timeout=timeout, limit=expect or None) or []
        return frozenset(node.split("@", 1)[0] for reply in replies for node in reply)


def register(app: Celery, doctor: Callable[[], FleetDoctor], signing: bool = False) -> None:
    @app.task(name="swarm.probe_fleet")  # type: ignore[untyped-decorator]
    def probe_fleet(signed_by: str = "") -> list[dict[str, object]]:
        """Beat: probe every drone, hold stale trees, walk the healing ladder (services.fleet.FleetDoctor)."""
        if refusal("swarm.probe_fleet", signed_by, signing):
            log.warning("swarm.probe_fleet from %r refused: only the coordinator's certificate may send it", signed_by)
            return []
        with one_writer():
            return [check.to_json() for check in doctor().probe_round()]
