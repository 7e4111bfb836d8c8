"""Drones joining and leaving: a hello (or a heartbeat) records the drone, renews its builds' leases and gives it work."""

from __future__ import annotations

from swarm_celery.domain.model import DroneIdentity, drone_queues
from swarm_celery.ports import Broker, Clock, FleetStore
from swarm_celery.services.dispatch import Dispatcher


class Drones:
    def __init__(self, store: FleetStore, broker: Broker, dispatcher: Dispatcher, clock: Clock) -> None:
        self.store = store
        self.broker = broker
        self.dispatcher = dispatcher
        self.clock = clock

    def hello(self, identity: DroneIdentity) -> None:
        """A drone started (or refreshed its identity on a heartbeat): record it, renew its builds' leases, give it work."""
        self.store.register_drone(identity)
        self.store.renew_leases(identity.name, identity.running)
        if self.store.grounded_until(identity.name) > self.clock.now():  # a restarted worker consumes its queues again
            self.broker.stop_consuming(identity.name, drone_queues(identity.name, identity.arch))
        self.dispatcher.dispatch(identity.arch)

    def goodbye(self, name: str) -> None:
        self.store.drone_offline(name, "its worker shut down")


__all__ = ["Drones"]
