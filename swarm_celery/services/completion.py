"""The drones' reports, in batches: fence checks, publication, failures and what they unblock.

``builds_started`` / ``builds_finished`` take one broker flush of reports at a time: each
report's attempt id is checked (a fencing token: late, duplicate and unknown reports are
recorded and ignored), the successes are published with one index rewrite per arch, the
failures are classified from their log tails and retried elsewhere or blocked, and what
became ready is dispatched once per batch. A failure skips everything that needed the
failed package and lets the rest of the plan go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from swarm_celery.domain.failures import Classification, FailureKind, classify_failure
from swarm_celery.domain.model import AttemptState, BuildResult, Outcome
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import AttemptInfo, PackageInfo, SessionInfo, StartReport
from swarm_celery.domain.scheduling import Retry, after_failure
from swarm_celery.errors import ArtifactError, CoordinatorFault
from swarm_celery.ports import AttemptContext, Clock, CompletionStore, Publisher
from swarm_celery.services.breaker import Breaker
from swarm_celery.services.dispatch import Dispatcher
from swarm_celery.services.planning import finish_if_done

Current = tuple[BuildResult, AttemptInfo, PackageInfo, SessionInfo]


def given_to(attempt: AttemptInfo, drone: str) -> bool:
    """Whether ``drone`` is the drone the attempt was dispatched to (its own queue, or the drone placement chose)."""
    return attempt.drone == drone if attempt.drone else attempt.queue == f"drone.{drone}"


class Completions:
    def __init__(self, store: CompletionStore, publisher: Publisher, dispatcher: Dispatcher, breaker: Breaker, clock: Clock,
                 config: SchedulerConfig, on_complete: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.on_complete = on_complete  # a session just completed (its binhost generation is made)
        self.publisher = publisher
        self.dispatcher = dispatcher
        self.breaker = breaker
        self.clock = clock
        self.config = config

    def builds_started(self, reports: Sequence[StartReport]) -> None:
        """One transaction for the batch in the common case; the fence check only for reports it did not apply."""
        applied = self.store.mark_started_many(reports)  # also the drones' "last seen"
        rest = [r for r in reports if r.attempt_id not in applied]
        contexts = self.store.attempt_contexts([r.attempt_id for r in rest]) if rest else {}
        for report in rest:
            context = contexts.get(report.attempt_id)
            if context is not None and context[0].state == AttemptState.FINISHED and context[1].current_attempt == report.attempt_id \
                    and context[0].drone == report.drone:
                continue  # the completion overtook the start report (it travels at a higher priority): nothing to do
            self._checked(context, report.attempt_id, "start", report.drone)  # records why: unknown, another drone's, or stale

    def builds_finished(self, results: Sequence[BuildResult]) -> None:
        """Fence checks, then publish the successes (one index rewrite per arch) and record the failures,
        then dispatch what became ready: once per batch, however many reports it holds."""
        current = self._current(results)
        for arch, simulated in sorted({(session.arch, session.simulated) for _, _, _, session in current}):
            self._publish(arch, [(r, a, p) for r, a, p, s in current
                                 if (s.arch, s.simulated) == (arch, simulated) and r.outcome is Outcome.SUCCESS], simulated)
        for result, attempt, _, _ in current:
            if result.outcome is Outcome.CANCELLED:  # revoked by hand on the worker, not taken back by us: build it again
                self.store.mark_cancelled(result, "the build was revoked on the drone; placed again")
            elif result.outcome is not Outcome.SUCCESS:
                self._fail(result, attempt, classify_failure(result.log_tail, result.exit_code))
        for arch in sorted({session.arch for _, _, _, session in current}):
            self.dispatcher.dispatch(arch)
        for session_id in sorted({attempt.session_id for _, attempt, _, _ in current}):
            if finish_if_done(self.store, session_id) and self.on_complete is not None:
                self.on_complete(session_id)

    def _current(self, results: Sequence[BuildResult]) -> list[Current]:
        """The reports that answer their package's current attempt, each once (a redelivered one is recorded stale)."""
        contexts = self.store.attempt_contexts([r.attempt_id for r in results])
        current: list[Current] = []
        seen: set[str] = set()
        for result in results:
            context = self._checked(contexts.get(result.attempt_id), result.attempt_id, "completion", result.drone)
            if context is not None and result.attempt_id in seen:  # a redelivered report in the same batch
                self.store.note_stale_report(result.attempt_id, f"duplicate completion for {context[0].cpv} ignored")
            elif context is not None:
                seen.add(result.attempt_id)
                current.append((result, *context))
        return current

    def _publish(self, arch: str, built: list[tuple[BuildResult, AttemptInfo, PackageInfo]], simulated: bool) -> None:
        """Publish a batch of one arch; a lost or corrupt artifact is the transport's fault, not the package's."""
        if not built:
            return
        outcomes = self.publisher.publish_many(arch, [(Path(r.artifact_path), r.sha256, p) for r, _, p in built], simulated)
        self.store.mark_published_many([(r, out, p) for (r, _, p), out in zip(built, outcomes, strict=True)
                                        if not isinstance(out, ArtifactError)])
        for (result, attempt, _), out in zip(built, outcomes, strict=True):
            if isinstance(out, CoordinatorFault):
                self._fail(result, attempt, Classification(FailureKind.COORDINATOR, None, str(out)))
            elif isinstance(out, ArtifactError):
                self._fail(result, attempt, Classification(FailureKind.ARTIFACT, None, str(out)))  # "artifact rejected: <why>"

    def _fail(self, result: BuildResult, attempt: AttemptInfo, why: Classification) -> None:
        """Record the failure, then retry elsewhere after a backoff or block the package and skip its dependents."""
        if why.kind is FailureKind.COORDINATOR:
            self._coordinator_fault(result, attempt, why)
            return
        self.store.mark_failed(result, why.summary(), why.kind.value, why.infrastructure)
        if why.infrastructure:
            self.breaker.after_infrastructure_failure(result.drone)
        decision = after_failure(self.store.failures(attempt.package_id), self.config.retry, self.clock.now())
        if isinstance(decision, Retry):
            wait = decision.not_before - self.clock.now()
            self.store.requeue(attempt.package_id, decision.not_before,
                               f"retry in {wait:.0f} s, not on {', '.join(sorted(decision.excluded))} ({why.summary()})")
            return
        self.store.block_package(attempt.package_id, f"{decision.reason}; last: {why.summary()}")
        self.store.skip_dependents(attempt.package_id, f"needs {attempt.cpv}, which is blocked")

    def _coordinator_fault(self, result: BuildResult, attempt: AttemptInfo, why: Classification) -> None:
        """The coordinator could not take a good build (its own disk is full): counted against neither the drone nor the
        package; the package is built again once the backoff has passed, and the event says what to free."""
        self.store.mark_cancelled(result, why.summary())
        self.store.requeue(attempt.package_id, self.clock.now() + self.config.retry.backoff, f"built again later: {why.summary()}")
        self.store.add_event("coordinator.disk_full", f"{attempt.cpv} built by {result.drone} could not be taken: {why.line}; free "
                             "space on the coordinator (SWARM_HOME)", attempt.session_id, attempt.cpv)

    def _checked(self, context: AttemptContext | None, attempt_id: str, what: str, drone: str) -> AttemptContext | None:
        """The report's context when it answers its package's current attempt from the drone it was given to; else None
        and an event saying why (unknown attempt, another drone's attempt, a stale or duplicate report)."""
        if context is None:
            self.store.add_event("attempt.unknown", f"{what} for unknown attempt {attempt_id} ignored", None, attempt_id)
            return None
        attempt, package, _ = context
        if not given_to(attempt, drone):
            self.store.add_event("report.invalid", f"{what} for {attempt.cpv} from {drone}, but attempt {attempt_id} was given to "
                                 f"{attempt.drone or attempt.queue}: ignored", attempt.session_id, attempt_id)
            return None
        if package.current_attempt != attempt_id or attempt.state in (AttemptState.FINISHED, AttemptState.STALE):
            self.store.note_stale_report(attempt_id, f"stale {what} for {attempt.cpv} (attempt {attempt_id}, {attempt.state}) ignored")
            return None
        if package.state.terminal:
            return None
        return context


__all__ = ["Completions"]
