"""The knobs of the scheduling and fleet policy, gathered in one value (built from Settings at entry points)."""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm_celery.domain.records import DroneLoad
from swarm_celery.domain.scheduling import RetryPolicy


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    offline_after: float = 120.0  # a drone not heard from for this long gets no new work
    breaker_failures: int = 8  # infrastructure failures ...
    breaker_window: float = 1800.0  # ... within this window ground a drone ...
    ground_for: float = 300.0  # ... for this long
    lookahead: int = 0  # builds queued per drone beyond its slots, only where they finish first (short simulated builds)
    lookahead_horizon: float = 0.3  # ... and only behind a slot expected to free within this many seconds (else held)
    lease: float = 90.0  # a started build with no heartbeat for this long is reclaimed (domain.leases)
    policy: str = "critical-path"  # or "fifo": merge order to any free drone (domain.fifo, a baseline)

    def grounds(self, infrastructure_failures: int) -> bool:
        return self.breaker_failures > 0 and infrastructure_failures >= self.breaker_failures

    def unavailable(self, drone: DroneLoad, now: float) -> str:
        """Why ``drone`` takes no new work now ("" when it does): paused, held (stale tree), grounded, or not heard from."""
        if drone.paused:
            return "paused"
        if drone.held:
            return drone.held
        if drone.grounded_until > now:
            return f"grounded for {drone.grounded_until - now:.0f} s more"
        if now - drone.last_seen > self.offline_after:
            return f"not heard from for {now - drone.last_seen:.0f} s"
        return ""
