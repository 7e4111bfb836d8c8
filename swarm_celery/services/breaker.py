"""The circuit breaker: a drone with too many infrastructure failures in a window is grounded for a while.

Grounding stops the drone's worker from consuming (``cancel_consumer`` on its queues only)
and places what was queued for it elsewhere; beat (``swarm.breaker``) lifts groundings
that ran out (``add_consumer``), and an operator can lift one at once (``control unground``).
"""

from __future__ import annotations

from swarm_celery.domain.model import PackageState, drone_queues
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.ports import Broker, Clock, FleetStore
from swarm_celery.services.dispatch import Dispatcher


class Breaker:
    def __init__(self, store: FleetStore, broker: Broker, dispatcher: Dispatcher, clock: Clock, config: SchedulerConfig) -> None:
        self.store = store
        self.broker = broker
        self.dispatcher = dispatcher
        self.clock = clock
        self.config = config

    def after_infrastructure_failure(self, drone: str) -> bool:
        """Ground ``drone`` when its infrastructure failures in the window reached the limit; True when grounded now.
        A drone grounded already stays grounded as it was (its late failures neither extend nor announce it again)."""
        now = self.clock.now()
        if self.store.grounded_until(drone) > now:
            return False
        count = self.store.infrastructure_failures(drone, now - self.config.breaker_window)
        if not self.config.grounds(count):
            return False
        self.store.set_grounded(drone, now + self.config.ground_for, f"{count} infrastructure failures in "
                                f"{self.config.breaker_window:.0f} s; lifted after {self.config.ground_for:.0f} s "
                                f"or by `build-swarm control unground --drone {drone}`")
        arch = self.store.drone_arch(drone)
        self.broker.stop_consuming(drone, drone_queues(drone, arch))
        queued = [a.id for a in self.store.queued_attempts(arch) if a.drone == drone]
        self.broker.revoke(queued, terminate=False)
        self.store.fence_attempts(queued, PackageState.NEEDED, f"{drone} was grounded before it started this build")
        return True

    def lift_groundings(self) -> list[str]:
        """Beat (``swarm.breaker``): drones whose grounding ran out consume again and take work. Returns their names."""
        lifted = self.store.expired_groundings(self.clock.now())
        for drone, arch in lifted:
            self.store.set_grounded(drone, 0.0, f"grounded for {self.config.ground_for:.0f} s; it takes work again")
            self.broker.start_consuming(drone, drone_queues(drone, arch))
        for arch in sorted({arch for _, arch in lifted}):
            self.dispatcher.dispatch(arch)
        return [drone for drone, _ in lifted]


__all__ = ["Breaker"]
