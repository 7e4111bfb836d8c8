"""The coordinator's use cases: plan a session, dispatch ready packages, record completions.

Flow (DESIGN.md "Data flow"): ``plan`` resolves the session's world with the
resolver port, computes the dispatch gates (domain.graph), persists both and
dispatches what is ready. ``builds_started`` / ``builds_finished`` take the
drones' reports in batches (one per broker flush): they check each fencing token
(the attempt id), publish the artifacts with one index rewrite, and dispatch the
packages that the publications made ready, once per batch. A failure skips everything that needed the
failed package and lets the rest of the plan go on.

Every method is idempotent: Celery delivers at least once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.failures import Classification, FailureKind, classify_failure
from swarm_celery.domain.graph import dependents_closure, dispatch_gates
from swarm_celery.domain.identity import diff_plans
from swarm_celery.domain.leases import expired, lost_in_broker
from swarm_celery.domain.model import (
    AttemptState,
    BuildResult,
    DroneIdentity,
    Outcome,
    PackageState,
    Plan,
    SessionState,
    drone_queues,
)
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import AttemptInfo, PackageInfo, SessionInfo, StartReport
from swarm_celery.domain.scheduling import Retry, after_failure, expected_seconds, remaining_paths
from swarm_celery.errors import ArtifactError, ResolveError
from swarm_celery.ports import BrokerCensus, Clock, Dispatcher, Publisher, Resolver, Store
from swarm_celery.services.dispatch import Scheduler

log = logging.getLogger(__name__)

BROKER_EPOCH_FLAG = "broker_epoch"  # the broker's run id at the last census


class Coordinator:
    def __init__(self, store: Store, resolver: Resolver, dispatcher: Dispatcher, publisher: Publisher, *,
                 prior: Durations, clock: Clock, config: SchedulerConfig | None = None, census: BrokerCensus | None = None) -> None:
        self.store = store
        self.resolver = resolver
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.prior = prior
        self.clock = clock
        self.config = config or SchedulerConfig()
        self.scheduler = Scheduler(store, dispatcher, clock, self.config)
        self.census = census
        self._suspects: frozenset[str] = frozenset()  # attempts the previous census did not find in the broker

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
            self.save_plan(session_id, plan, session)
        except ResolveError as exc:
            self.store.fail_session(session_id, str(exc))
            return 0
        except Exception as exc:  # a bug or an outage must not leave the session "planning" forever
            self.store.fail_session(session_id, f"planning failed ({type(exc).__name__}: {exc}); see the coordinator log")
            raise
        self.scheduler.dispatch(session.arch)
        self._finish_if_done(session_id)  # an empty plan is complete at once
        return len(plan.packages)

    def save_plan(self, session_id: str, plan: Plan, session: SessionInfo | None = None) -> None:
        """Gates, expected build times and critical-path ranks, persisted with the plan in one transaction."""
        gates = dispatch_gates(plan)
        history = self.store.history_seconds()
        expected = {p.cpv: expected_seconds(p.cpv, history, self.prior) for p in plan.packages}
        reasons, reused = self._compare_with_published(session, plan) if session and session.build_profile else ({}, frozenset())
        self.store.save_plan(session_id, plan, gates, expected, remaining_paths(gates, expected), reasons, reused)

    def _compare_with_published(self, session: SessionInfo, plan: Plan) -> tuple[dict[str, str], frozenset[str]]:
        """A profile's session: why each package is built (new, or what changed, by identity), and — when it builds
        changes only — the packages the profile published already with the same identity, which are not built again.
        A dependent whose ``:=`` dependency changed sub-slot has a new identity itself, so it is rebuilt too."""
        previous = self.store.published_plan(session.build_profile)
        diff = diff_plans(previous, plan)
        reasons = {p.cpv: "new in this profile" for p in diff.new}
        reasons |= {c.new.cpv: "changed: " + "; ".join(r.text for r in c.reasons) for c in diff.changed}
        if not session.reuse:
            return reasons, frozenset()
        published = {p.identity for p in previous.packages}
        reused = frozenset(p.cpv for p in plan.packages if p.identity and p.identity in published)
        return reasons | dict.fromkeys(reused, "unchanged: published already with the same identity"), reused

    def dispatch(self, arch: str) -> int:
        return self.scheduler.dispatch(arch)

    # drones ---------------------------------------------------------------
    def drone_hello(self, identity: DroneIdentity) -> None:
        """A drone started (or refreshed its identity on a heartbeat): record it, renew its builds' leases, give it work."""
        self.store.register_drone(identity)
        self.store.renew_leases(identity.name, identity.running)
        if self.store.grounded_until(identity.name) > self.clock.now():  # a restarted worker consumes its queues again
            self.dispatcher.stop_consuming(identity.name, drone_queues(identity.name, identity.arch))
        self.scheduler.dispatch(identity.arch)

    def reclaim(self) -> int:
        """Stale-work reclaim (beat, ``swarm.reclaim``): take back the attempts whose leases expired or whose messages
        the broker lost (domain.leases), fence them, and place their packages again. Silent drones are marked offline.
        Returns how many were taken back."""
        held = self._broker_census()  # the broker first, then the record
        leases, seen = self.store.leases()
        found = expired(leases, seen, self.clock.now(), lease=self.config.lease, offline_after=self.config.offline_after)
        if held is not None:
            lost, self._suspects = lost_in_broker(leases, held, self._suspects)
            taken = {r.attempt_id for r in found}
            found += [r for r in lost if r.attempt_id not in taken]
        if not found:
            return 0
        # a drone that comes back does not start what was queued for it; a build it was running when it froze may
        # finish: its report is then recorded as stale and ignored, its upload refused
        self.dispatcher.revoke([r.attempt_id for r in found], terminate=False)
        moved = self.store.reclaim_attempts(found)
        for drone in sorted({r.drone for r in found if r.drone_silent}):
            self.store.drone_offline(drone, f"silent for more than {self.config.offline_after:.0f} s; its work was reclaimed")
        for arch in self.store.arches():
            self.scheduler.dispatch(arch)
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

    def drone_goodbye(self, name: str, arch: str) -> None:
        self.store.drone_offline(name, "its worker shut down")

    # completions ----------------------------------------------------------
    def build_started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        self.builds_started([StartReport(attempt_id, drone, arch, started_at)])

    def builds_started(self, reports: Sequence[StartReport]) -> None:
        """One transaction for the batch in the common case; the fence check only for reports it did not apply."""
        applied = self.store.mark_started_many(reports)  # also the drones' "last seen"
        rest = [r for r in reports if r.attempt_id not in applied]
        contexts = self.store.attempt_contexts([r.attempt_id for r in rest]) if rest else {}
        for report in rest:
            self.store.touch_drone(report.drone, report.arch)
            context = contexts.get(report.attempt_id)
            if context is not None and context[0].state == AttemptState.FINISHED and context[1].current_attempt == report.attempt_id:
                continue  # the completion overtook the start report (it travels at a higher priority): nothing to do
            self._checked(context, report.attempt_id, "start")  # records why: unknown or stale

    def build_finished(self, result: BuildResult) -> None:
        self.builds_finished([result])

    def builds_finished(self, results: Sequence[BuildResult]) -> None:
        """Fence checks, then publish the successes (one index rewrite per arch) and record the failures,
        then dispatch what became ready: once per batch, however many reports it holds."""
        contexts = self.store.attempt_contexts([r.attempt_id for r in results])
        current: list[tuple[BuildResult, AttemptInfo, PackageInfo, SessionInfo]] = []
        seen: set[str] = set()
        for result in results:
            context = self._checked(contexts.get(result.attempt_id), result.attempt_id, "completion")
            if context is not None and result.attempt_id in seen:  # a redelivered report in the same batch
                self.store.note_stale_report(result.attempt_id, f"duplicate completion for {context[0].cpv} ignored")
            elif context is not None:
                seen.add(result.attempt_id)
                current.append((result, *context))
        arches = sorted({session.arch for _, _, _, session in current})
        for arch, simulated in sorted({(session.arch, session.simulated) for _, _, _, session in current}):
            self._publish(arch, [(r, a, p) for r, a, p, s in current
                                 if (s.arch, s.simulated) == (arch, simulated) and r.outcome is Outcome.SUCCESS], simulated)
        for result, attempt, _, _ in current:
            if result.outcome is Outcome.CANCELLED:  # revoked by hand on the worker, not taken back by us: build it again
                self.store.mark_cancelled(result, "the build was revoked on the drone; placed again")
            elif result.outcome is not Outcome.SUCCESS:
                self._fail(result, attempt, classify_failure(result.log_tail, result.exit_code))
        for arch in arches:
            self.scheduler.dispatch(arch)
        for session_id in sorted({attempt.session_id for _, attempt, _, _ in current}):
            self._finish_if_done(session_id)

    def _publish(self, arch: str, built: list[tuple[BuildResult, AttemptInfo, PackageInfo]], simulated: bool) -> None:
        """Publish a batch of one arch; a lost or corrupt artifact is the transport's fault, not the package's."""
        if not built:
            return
        outcomes = self.publisher.publish_many(arch, [(Path(r.artifact_path), r.sha256, p) for r, _, p in built], simulated)
        self.store.mark_published_many([(r, out, p) for (r, _, p), out in zip(built, outcomes, strict=True)
                                        if not isinstance(out, ArtifactError)])
        for (result, attempt, _), out in zip(built, outcomes, strict=True):
            if isinstance(out, ArtifactError):
                self._fail(result, attempt, Classification(FailureKind.ARTIFACT, None, f"artifact rejected: {out}"))

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
        """Circuit breaker: too many infrastructure failures in the window ground the drone for a while: its worker
        stops consuming (``cancel_consumer``) and what was queued for it is placed elsewhere."""
        now = self.clock.now()
        count = self.store.infrastructure_failures(drone, now - self.config.breaker_window)
        if not self.config.grounds(count):
            return
        self.store.set_grounded(drone, now + self.config.ground_for, f"{count} infrastructure failures in "
                                f"{self.config.breaker_window:.0f} s; lifted after {self.config.ground_for:.0f} s "
                                f"or by `build-swarm control unground --drone {drone}`")
        arch = self.store.drone_arch(drone)
        self.dispatcher.stop_consuming(drone, drone_queues(drone, arch))
        queued = [a.id for a in self.store.queued_attempts(arch) if a.drone == drone]
        self.dispatcher.revoke(queued, terminate=False)
        self.store.fence_attempts(queued, PackageState.NEEDED, f"{drone} was grounded before it started this build")

    def lift_groundings(self) -> list[str]:
        """Beat (``swarm.breaker``): drones whose grounding ran out consume again and take work. Returns their names."""
        lifted = self.store.expired_groundings(self.clock.now())
        for drone, arch in lifted:
            self.store.set_grounded(drone, 0.0, f"grounded for {self.config.ground_for:.0f} s; it takes work again")
            self.dispatcher.start_consuming(drone, drone_queues(drone, arch))
        for arch in sorted({arch for _, arch in lifted}):
            self.scheduler.dispatch(arch)
        return [drone for drone, _ in lifted]

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
