"""Drones joining and leaving: a hello (or a heartbeat) records the drone, renews its builds' leases and gives it work
when it has a free slot.

A heartbeat the record cannot take (its disk is full) is kept in memory (:class:`Heard`): stale-work
reclaim reads it too, so a live build's lease does not run out because the coordinator could not write.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from swarm_celery.domain.leases import Lease
from swarm_celery.domain.model import DroneIdentity, drone_queues
from swarm_celery.errors import RecordError
from swarm_celery.ports import Broker, Clock, FleetStore
from swarm_celery.services.dispatch import Dispatcher

log = logging.getLogger(__name__)


class Heard:
    """Heartbeats heard but not recorded, by drone and by attempt: when each was last heard."""

    def __init__(self) -> None:
        self.drones: dict[str, float] = {}
        self.attempts: dict[str, float] = {}

    def heard(self, identity: DroneIdentity, at: float) -> None:
        self.drones[identity.name] = at
        self.attempts.update(dict.fromkeys(identity.running, at))

    def recorded(self, name: str, running: Sequence[str]) -> None:
        self.drones.pop(name, None)
        for attempt_id in running:
            self.attempts.pop(attempt_id, None)

    def renewed(self, leases: list[Lease], seen: dict[str, float]) -> tuple[list[Lease], dict[str, float]]:
        """The record's leases and last-seen times, with what was heard but not recorded laid over them."""
        leases = [dataclasses.replace(lease, renewed_at=max(lease.renewed_at, self.attempts[lease.attempt_id]))
                  if lease.attempt_id in self.attempts else lease for lease in leases]
        return leases, {**seen, **{name: max(at, seen.get(name, 0.0)) for name, at in self.drones.items()}}


class Drones:
    def __init__(self, store: FleetStore, broker: Broker, dispatcher: Dispatcher, clock: Clock, heard: Heard | None = None) -> None:
        self.store = store
        self.broker = broker
        self.dispatcher = dispatcher
        self.clock = clock
        self.heard = heard or Heard()

    def hello(self, identity: DroneIdentity) -> None:
        """A drone started (or refreshed its identity on a heartbeat): record it, renew its builds' leases, give it work (when
        it has room)."""
        try:
            self.store.register_drone(identity)
            self.store.renew_leases(identity.name, identity.running)
        except RecordError:
            self.heard.heard(identity, self.clock.now())  # its builds stay its own: reclaim reads this too
            log.error("the heartbeat of %s could not be recorded; kept in memory", identity.name)
            raise
        self.heard.recorded(identity.name, identity.running)
        if self.store.grounded_until(identity.name) > self.clock.now():  # a restarted worker consumes its queues again
            self.broker.stop_consuming(identity.name, drone_queues(identity.name, identity.arch))
        if len(identity.running) < max(1, identity.slots) + self.dispatcher.config.lookahead:
            self.dispatcher.dispatch(identity.arch)  # it has room (a drone busy in every slot gets work as builds finish)

    def goodbye(self, name: str) -> None:
        self.store.drone_offline(name, "its worker shut down")


__all__ = ["Drones"]
