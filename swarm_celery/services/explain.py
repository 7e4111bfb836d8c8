"""`explain`: gather the facts about one package from the store and let the domain explain them. Read-only."""

from __future__ import annotations

from swarm_celery.domain.explain import DroneAvailability, ExplainFacts, Explanation, explain
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import DroneLoad, PackageInfo
from swarm_celery.errors import NotFoundError
from swarm_celery.ports import Clock, ExplainStore
from swarm_celery.services.dispatch import PAUSED_FLAG, REAL_BUILDER


class Explainer:
    def __init__(self, store: ExplainStore, clock: Clock, config: SchedulerConfig) -> None:
        self.store = store
        self.clock = clock
        self.config = config

    def explain(self, atom: str, session_id: str = "") -> list[tuple[PackageInfo, Explanation]]:
        found = self.store.find_packages(atom, session_id)
        if not found:
            where = f"session {session_id}" if session_id else "any running or complete session"
            raise NotFoundError(f"{atom} is not in {where}; `build-swarm plan` lists the packages of a session")
        return [(pkg, explain(self.facts(pkg))) for pkg in found]

    def facts(self, pkg: PackageInfo) -> ExplainFacts:
        session = self.store.get_session(pkg.session_id)
        assert session is not None
        now = self.clock.now()
        attempt = self.store.get_attempt(pkg.current_attempt) if pkg.current_attempt else None
        drones = tuple(self._view(d, now, session.simulated) for d in self.store.drone_loads(session.arch))
        return ExplainFacts(
            cpv=pkg.cpv, session=pkg.session_id, state=pkg.state, reason=pkg.reason, arch=session.arch, now=now, rank=pkg.rank,
            not_before=pkg.not_before, dispatch_paused=bool(self.store.get_flag(PAUSED_FLAG)), drones=drones,
            failed_on=frozenset(f.drone for f in self.store.failures(pkg.id)), gates=self.store.session_gates(pkg.session_id),
            states=self.store.package_states(pkg.session_id),
            attempt_drone=(attempt.drone or "") if attempt else "",
            attempt_since=(attempt.started_at or attempt.dispatched_at) if attempt else 0.0,
        )

    def _view(self, drone: DroneLoad, now: float, simulated: bool) -> DroneAvailability:
        why = self.config.unavailable(drone, now)
        if not why and (drone.builder != REAL_BUILDER) != simulated:  # the dispatcher gives a drone only sessions of its kind
            why = (f"it builds with {drone.builder or 'no builder it named'}, and this session's builds are "
                   f"{'simulated' if simulated else 'real (SWARM_BUILDER=emerge on the coordinator): start drones with SWARM_BUILDER=emerge'}")
        return DroneAvailability(drone.name, why, max(0, drone.slots - len(drone.running)))
