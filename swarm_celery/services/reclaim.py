"""Stale-work reclaim (beat, ``swarm.reclaim``): take back what a silent drone or a lossy broker left behind.

Attempts whose leases expired (domain.leases) or whose messages the broker lost (missing
at two censuses in a row) are revoked, fenced in the record and placed again; silent
drones are marked offline. A broker restart is recorded when its run id changes.
"""

from __future__ import annotations

from swarm_celery.domain.leases import expired, lost_in_broker
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.ports import Broker, BrokerCensus, Clock, LeaseStore
from swarm_celery.services.dispatch import Dispatcher
from swarm_celery.services.drones import Heard

BROKER_EPOCH_FLAG = "broker_epoch"  # the broker's run id at the last census


class Reclaimer:
    def __init__(self, store: LeaseStore, broker: Broker, dispatcher: Dispatcher, clock: Clock, config: SchedulerConfig,
                 census: BrokerCensus | None = None, heard: Heard | None = None) -> None:
        self.store = store
        self.broker = broker
        self.dispatcher = dispatcher
        self.clock = clock
        self.config = config
        self.census = census
        self.heard = heard or Heard()  # heartbeats the record could not take (services.drones)
        self._suspects: frozenset[str] = frozenset()  # attempts the previous census did not find in the broker

    def reclaim(self) -> int:
        """Take back the attempts whose leases expired or whose messages the broker lost, fence them, and place their
        packages again. Silent drones are marked offline. Returns how many were taken back."""
        held = self._broker_census()  # the broker first, then the record
        leases, seen = self.heard.renewed(*self.store.leases())
        found = expired(leases, seen, self.clock.now(), lease=self.config.lease, offline_after=self.config.offline_after)
        if held is not None:
            lost, self._suspects = lost_in_broker(leases, held, self._suspects)
            taken = {r.attempt_id for r in found}
            found += [r for r in lost if r.attempt_id not in taken]
        if not found:
            return 0
        # a drone that comes back does not start what was queued for it; a build it was running when it froze may
        # finish: its report is then recorded as stale and ignored, its upload refused
        self.broker.revoke([r.attempt_id for r in found], terminate=False)
        moved = self.store.reclaim_attempts(found)
        for drone in sorted({r.drone for r in found if r.drone_silent}):
            self.store.drone_offline(drone, f"silent for more than {self.config.offline_after:.0f} s; its work was reclaimed")
        for arch in self.store.arches():
            self.dispatcher.dispatch(arch)
        return moved

    def _broker_census(self) -> frozenset[str] | None:
        """What the broker holds; a restart of the broker since the last census is recorded (messages were lost)."""
        if self.census is None:
            return None
        epoch, held = self.census.epoch(), self.census.held()
        before = self.store.get_flag(BROKER_EPOCH_FLAG)
        if epoch and epoch != before:
            self.store.set_flag(BROKER_EPOCH_FLAG, epoch)
            if before:
                self.store.add_event("broker.restarted", f"the broker restarted (run id {before[:8]} → {epoch[:8]}); "
                                     f"it holds {len(held or ())} messages of attempts: what it lost is placed again")
        return held


__all__ = ["BROKER_EPOCH_FLAG", "Reclaimer"]
