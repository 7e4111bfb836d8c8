"""The coordinator's use cases: plan a session, dispatch ready packages, record completions.

Flow (DESIGN.md "Data flow"): ``plan`` resolves the session's world with the
resolver port, computes the dispatch gates (domain.graph), persists both and
dispatches what is ready. ``build_started`` / ``build_finished`` check the
fencing token (the attempt id), publish the artifact, and dispatch the packages
that the publication made ready. A failure skips everything that needed the
failed package and lets the rest of the plan go on.

Every method is idempotent: Celery delivers at least once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.failures import Classification, FailureKind, classify_failure
from swarm_celery.domain.graph import dependents_closure, dispatch_gates
from swarm_celery.domain.model import AttemptState, BuildResult, DroneIdentity, Outcome, Plan, SessionState
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import AttemptInfo, PackageInfo, SessionInfo
from swarm_celery.domain.scheduling import Retry, after_failure, expected_seconds, remaining_paths
from swarm_celery.errors import ArtifactError, ResolveError
from swarm_celery.ports import Clock, Dispatcher, Publisher, Resolver, Store
from swarm_celery.services.dispatch import Scheduler

log = logging.getLogger(__name__)


class Coordinator:
    def __init__(self, store: Store, resolver: Resolver, dispatcher: Dispatcher, publisher: Publisher, *,
                 prior: Durations, clock: Clock, config: SchedulerConfig | None = None) -> None:
        self.store = store
        self.resolver = resolver
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.prior = prior
        self.clock = clock
        self.config = config or SchedulerConfig()
        self.scheduler = Scheduler(store, dispatcher, clock, self.config)

    # planning -------------------------------------------------------------
    def plan(self, session_id: str) -> int:
        """Resolve and persist the session's plan, then dispatch the first wave. Returns packages planned."""
        session = self.store.get_session(session_id)
        if session is None:
            raise LookupError(f"session {session_id} does not exist")
        if session.state != SessionState.PLANNING:
            log.info("session %s is %s already; plan ignored", session_id, session.state)
            return 0
        request = ResolveRequest.from_json(json.loads(session.request_json))
        try:
            plan = self.resolver.resolve(request)
            self.save_plan(session_id, plan)
        except ResolveError as exc:
            self.store.fail_session(session_id, str(exc))
            return 0
        except Exception as exc:  # a bug or an outage must not leave the session "planning" forever
            self.store.fail_session(session_id, f"planning failed ({type(exc).__name__}: {exc}); see the coordinator log")
            raise
        self.scheduler.dispatch(session.arch)
        self._finish_if_done(session_id)  # an empty plan is complete at once
        return len(plan.packages)

    def save_plan(self, session_id: str, plan: Plan) -> None:
        """Gates, expected build times and critical-path ranks, persisted with the plan in one transaction."""
        gates = dispatch_gates(plan)
        history = self.store.history_seconds()
        expected = {p.cpv: expected_seconds(p.cpv, history, self.prior) for p in plan.packages}
        self.store.save_plan(session_id, plan, gates, expected, remaining_paths(gates, expected))

    def dispatch(self, arch: str) -> int:
        return self.scheduler.dispatch(arch)

    # drones ---------------------------------------------------------------
    def drone_hello(self, identity: DroneIdentity) -> None:
        """A drone started (or refreshed its identity on a heartbeat): record it and give it work."""
        self.store.register_drone(identity)
        self.scheduler.dispatch(identity.arch)

    def drone_goodbye(self, name: str, arch: str) -> None:
        self.store.drone_offline(name, "its worker shut down")

    # completions ----------------------------------------------------------
    def build_started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        """One conditional update in the common case; the fence check only when it did not apply."""
        if self.store.mark_started(attempt_id, drone, started_at):  # also the drone's "last seen"
            return
        self.store.touch_drone(drone, arch)
        context = self.store.attempt_context(attempt_id)
        if context is not None and context[0].state == AttemptState.FINISHED and context[1].current_attempt == attempt_id:
            return  # the completion overtook the start report (it travels at a higher priority): nothing to do
        self._checked(context, attempt_id, "start")  # records why: unknown or stale

    def build_finished(self, result: BuildResult) -> None:
        """Fence check, then publish (or record the failure), then dispatch what became ready."""
        context = self._current(result.attempt_id, "completion")
        if context is None:
            return
        attempt, package, session = context
        if result.outcome is Outcome.SUCCESS:
            try:
                artifact = self.publisher.publish(session.arch, Path(result.artifact_path), result.sha256, package)
            except ArtifactError as exc:  # a lost or corrupt artifact is the transport's fault, not the package's
                self._fail(result, attempt, Classification(FailureKind.ARTIFACT, None, f"artifact rejected: {exc}"))
            else:
                self.store.mark_published(result, artifact, package)
        else:
            self._fail(result, attempt, classify_failure(result.log_tail, result.exit_code))
        self.scheduler.dispatch(session.arch)
        self._finish_if_done(attempt.session_id)

    def _fail(self, result: BuildResult, attempt: AttemptInfo, why: Classification) -> None:
        """Record the failure, then retry elsewhere after a backoff or block the package and skip its dependents."""
        self.store.mark_failed(result, why.summary(), why.kind.value, why.infrastructure)
        if why.infrastructure:
            self._maybe_ground(result.drone)
        decision = after_failure(self.store.failures(attempt.package_id), self.config.retry, self.clock.now())
        if isinstance(decision, Retry):
            wait = decision.not_before - self.clock.now()
            self.store.requeue(attempt.package_id, decision.not_before,
                               f"retry in {wait:.0f} s, not on {', '.join(sorted(decision.excluded))} ({why.summary()})")
            return
        self.store.block_package(attempt.package_id, f"{decision.reason}; last: {why.summary()}")
        dependents = dependents_closure(attempt.cpv, self.store.session_gates(attempt.session_id))
        self.store.skip_packages(attempt.session_id, sorted(dependents), f"needs {attempt.cpv}, which is blocked")

    def _maybe_ground(self, drone: str) -> None:
        """Circuit breaker: too many infrastructure failures in the window ground the drone for a while."""
        now = self.clock.now()
        count = self.store.infrastructure_failures(drone, now - self.config.breaker_window)
        if self.config.grounds(count):
            self.store.set_grounded(drone, now + self.config.ground_for,
                                    f"{count} infrastructure failures in {self.config.breaker_window:.0f} s")

    def _current(self, attempt_id: str, what: str) -> tuple[AttemptInfo, PackageInfo, SessionInfo] | None:
        """The attempt (with package and session) if it is the package's current, unfinished one; else record a stale report."""
        return self._checked(self.store.attempt_context(attempt_id), attempt_id, what)

    def _checked(self, context: tuple[AttemptInfo, PackageInfo, SessionInfo] | None, attempt_id: str,
                 what: str) -> tuple[AttemptInfo, PackageInfo, SessionInfo] | None:
        if context is None:
            self.store.add_event("attempt.unknown", f"{what} for unknown attempt {attempt_id} ignored", None, attempt_id)
            return None
        attempt, package, _ = context
        if package.current_attempt != attempt_id or attempt.state in (AttemptState.FINISHED, AttemptState.STALE):
            self.store.note_stale_report(attempt_id, f"stale {what} for {attempt.cpv} (attempt {attempt_id}, {attempt.state}) ignored")
            return None
        if package.state.terminal:
            return None
        return context

    def _finish_if_done(self, session_id: str) -> None:
        counts = self.store.counts(session_id)
        if counts.finished:
            self.store.finish_session(session_id)


__all__ = ["Coordinator"]
