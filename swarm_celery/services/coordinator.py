"""The coordinator: one facade over the use cases its Celery worker runs (the record's only writer).

Flow (DESIGN.md "Data flow"):

    swarm.plan ──────────▶ Planner.plan ─────────── resolve → gates → plan rows ─┐
    swarm.drone_hello ───▶ Drones.hello ─────────── drone row, leases renewed ───┤
    swarm.build_started ─▶ Completions.builds_started (fence checks) ────────────┤
    swarm.build_finished ▶ Completions.builds_finished ── publish / fail ─ Breaker┤
    swarm.reclaim ───────▶ Reclaimer.reclaim ────── expired leases, broker census ┤
    swarm.breaker ───────▶ Breaker.lift_groundings ───────────────────────────────┤
                                                                                 ▼
                                                    Dispatcher.dispatch(arch): place ready packages

Each use case gets only its role of the store (ports.store); they share one Dispatcher,
so learned speeds and paces are kept once. Every method is idempotent: Celery delivers
at least once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildResult, DroneIdentity
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import StartReport
from swarm_celery.ports import Broker, BrokerCensus, BuildConfigs, Clock, CoordinatorStore, Publisher, Resolver
from swarm_celery.services.breaker import Breaker
from swarm_celery.services.completion import Completions
from swarm_celery.services.dispatch import Dispatcher
from swarm_celery.services.drones import Drones, Heard
from swarm_celery.services.planning import Planner
from swarm_celery.services.reclaim import BROKER_EPOCH_FLAG, Reclaimer
from swarm_celery.services.timings import BatchTimings


class Coordinator:
    def __init__(self, store: CoordinatorStore, resolver: Resolver, broker: Broker, publisher: Publisher, *,
                 prior: Durations, clock: Clock, config: SchedulerConfig | None = None, census: BrokerCensus | None = None,
                 simulated: bool | None = None, configs: BuildConfigs | None = None,
                 on_complete: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.config = config or SchedulerConfig()
        self.dispatcher = Dispatcher(store, broker, clock, self.config, configs)
        self.planner = Planner(store, resolver, self.dispatcher, prior, simulated, on_complete, staging=publisher)
        self.breaker = Breaker(store, broker, self.dispatcher, clock, self.config)
        self.completions = Completions(store, publisher, self.dispatcher, self.breaker, clock, self.config, on_complete)
        heard = Heard()  # heartbeats the record could not take, shared by the two that need them
        self.reclaimer = Reclaimer(store, broker, self.dispatcher, clock, self.config, census, heard)
        self.drones = Drones(store, broker, self.dispatcher, clock, heard)
        self.timings = BatchTimings(store, clock)  # seconds per batch of reports, for /metrics

    def plan(self, session_id: str) -> int:
        return self.planner.plan(session_id)

    def dispatch(self, arch: str) -> int:
        return self.dispatcher.dispatch(arch)

    def drone_hello(self, identity: DroneIdentity) -> None:
        self.drones.hello(identity)

    def drone_goodbye(self, name: str, arch: str = "") -> None:
        self.drones.goodbye(name)

    def builds_started(self, reports: Sequence[StartReport]) -> None:
        with self.timings.timed("build_started"):
            self.completions.builds_started(reports)

    def builds_finished(self, results: Sequence[BuildResult]) -> None:
        with self.timings.timed("build_finished"):
            self.completions.builds_finished(results)

    def build_started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        self.builds_started([StartReport(attempt_id, drone, arch, started_at)])

    def build_finished(self, result: BuildResult) -> None:
        self.builds_finished([result])

    def reclaim(self) -> int:
        return self.reclaimer.reclaim()

    def lift_groundings(self) -> list[str]:
        return self.breaker.lift_groundings()

    def invalid(self, kind: str, message: str, subject: str) -> None:
        """A message the tasks refused (``report.invalid``, ``control.invalid``): recorded and dropped, never retried."""
        self.store.add_event(kind, message, None, subject)


__all__ = ["BROKER_EPOCH_FLAG", "Coordinator"]
