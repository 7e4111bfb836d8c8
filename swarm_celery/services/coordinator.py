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
import uuid
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.graph import dependents_closure, dispatch_gates
from swarm_celery.domain.model import AttemptState, BuildRequest, BuildResult, Outcome, SessionState, build_queue
from swarm_celery.domain.records import AttemptInfo
from swarm_celery.errors import ArtifactError, ResolveError
from swarm_celery.ports import Dispatcher, Publisher, Resolver, Store

log = logging.getLogger(__name__)


class Coordinator:
    def __init__(self, store: Store, resolver: Resolver, dispatcher: Dispatcher, publisher: Publisher) -> None:
        self.store = store
        self.resolver = resolver
        self.dispatcher = dispatcher
        self.publisher = publisher

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
            self.store.save_plan(session_id, plan, dispatch_gates(plan))  # one transaction: all or nothing
        except ResolveError as exc:
            self.store.fail_session(session_id, str(exc))
            return 0
        except Exception as exc:  # a bug or an outage must not leave the session "planning" forever
            self.store.fail_session(session_id, f"planning failed ({type(exc).__name__}: {exc}); see the coordinator log")
            raise
        self.dispatch_ready(session_id)
        return len(plan.packages)

    def dispatch_ready(self, session_id: str, after: int | None = None) -> int:
        """Send every package whose gates are all published; one attempt row per dispatch."""
        session = self.store.get_session(session_id)
        if session is None or session.state != SessionState.RUNNING:
            return 0
        ready = self.store.ready_packages(session_id, after)
        queue = build_queue(session.arch)
        for pkg in ready:
            attempt_id = uuid.uuid4().hex
            self.store.create_attempt(attempt_id, pkg.id, queue)
            request = BuildRequest(attempt_id, session_id, pkg.cpv, session.arch, pkg.slot, pkg.repo, pkg.use)
            self.dispatcher.send_build(request, queue)
        self._finish_if_done(session_id)
        return len(ready)

    # completions ----------------------------------------------------------
    def build_started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        self.store.touch_drone(drone, arch)
        attempt = self._current(attempt_id, "start")
        if attempt is not None:
            self.store.mark_started(attempt_id, drone, started_at)

    def build_finished(self, result: BuildResult) -> None:
        """Fence check, then publish (or record the failure), then dispatch what became ready."""
        attempt = self._current(result.attempt_id, "completion")
        if attempt is None:
            return
        package = self.store.get_package(attempt.package_id)
        session = self.store.get_session(attempt.session_id)
        assert package is not None and session is not None
        self.store.touch_drone(result.drone, session.arch)
        if result.outcome is Outcome.SUCCESS:
            try:
                artifact = self.publisher.publish(session.arch, Path(result.artifact_path), result.sha256, package)
            except ArtifactError as exc:
                self._fail(result, attempt, f"artifact rejected: {exc}")
                return
            self.store.mark_published(result, artifact)
            self.dispatch_ready(attempt.session_id, after=package.id)
        else:
            self._fail(result, attempt, _failure_reason(result))

    def _fail(self, result: BuildResult, attempt: AttemptInfo, error: str) -> None:
        self.store.mark_failed(result, error)
        blocked = dependents_closure(attempt.cpv, self.store.session_gates(attempt.session_id))
        self.store.skip_packages(attempt.session_id, sorted(blocked), f"needs {attempt.cpv}, which failed")
        self._finish_if_done(attempt.session_id)

    def _current(self, attempt_id: str, what: str) -> AttemptInfo | None:
        """The attempt if it is the package's current, unfinished one; else record a stale report."""
        attempt = self.store.get_attempt(attempt_id)
        if attempt is None:
            self.store.add_event("attempt.unknown", f"{what} for unknown attempt {attempt_id} ignored", None, attempt_id)
            return None
        package = self.store.get_package(attempt.package_id)
        current = package is not None and package.current_attempt == attempt_id
        if not current or attempt.state in (AttemptState.FINISHED, AttemptState.STALE):
            self.store.note_stale_report(attempt_id, f"stale {what} for {attempt.cpv} (attempt {attempt_id}, {attempt.state}) ignored")
            return None
        if package is not None and package.state.terminal:
            return None
        return attempt

    def _finish_if_done(self, session_id: str) -> None:
        counts = self.store.counts(session_id)
        if counts.finished:
            self.store.finish_session(session_id)


def _failure_reason(result: BuildResult) -> str:
    tail = [line for line in result.log_tail.splitlines() if line.strip()]
    return tail[-1].strip() if tail else "build failed"


__all__ = ["Coordinator"]
