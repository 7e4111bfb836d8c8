"""Sessions, plans and completions in memory: the SqlStore's repository.py and completion_repo.py, as plain data."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.graph import dependents_closure
from swarm_celery.domain.model import AttemptState, BuildResult, EdgeKind, Outcome, PackageState, Plan, SessionState
from swarm_celery.domain.records import (
    AttemptInfo,
    NewAttempt,
    PackageInfo,
    PublishedArtifact,
    SessionCounts,
    SessionInfo,
    StartReport,
)
from swarm_celery.ports import AttemptContext, Clock
from swarm_celery.store.memory.rows import Attempt, Package, Session, Tables

LOG_TAIL = 4000  # characters of a finished attempt's log tail the record keeps


class MemoryBase:
    t: Tables
    clock: Clock

    def _package(self, package_id: int) -> Package | None:
        return self.t.packages.get(package_id)

    def _session_packages(self, session_id: str) -> list[Package]:
        return [p for p in self.t.packages.values() if p.session_id == session_id]

    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        self.t.event(self.clock.now(), kind, message, session_id, subject)


class SessionsMixin(MemoryBase):
    def create_session(self, session_id: str, request: ResolveRequest, simulated: bool, priority: int = 0,
                       build_profile: str = "", reuse: bool = False) -> None:
        if session_id in self.t.sessions:
            raise ValueError(f"session {session_id} exists already")
        self.t.sessions[session_id] = Session(
            session_id, SessionState.PLANNING.value, request.arch, request.gentoo_profile, json.dumps(request.to_json()),
            request.config_hash(), simulated, priority, "", self.clock.now(), build_profile, reuse, seq=len(self.t.sessions))
        what = f"session for {len(request.world)} world atoms ({request.arch})" + (f", priority {priority}" if priority else "")
        what += (f", profile {build_profile}" + (" (changes only)" if reuse else " (everything)")) if build_profile else ""
        self.add_event("session.created", what, session_id)

    def get_session(self, session_id: str) -> SessionInfo | None:
        found = self.t.sessions.get(session_id)
        return found.info() if found else None

    def set_simulated(self, session_id: str, simulated: bool, why: str) -> bool:
        found = self.t.sessions.get(session_id)
        if found is None or found.simulated == simulated:
            return False
        found.simulated = simulated
        self.add_event("session.kind", why, session_id)
        return True

    def save_plan(self, session_id: str, plan: Plan, gates: Mapping[str, frozenset[str]], expected: Mapping[str, float],
                  ranks: Mapping[str, float], reasons: Mapping[str, str] | None = None, reused: frozenset[str] = frozenset()) -> None:
        if len({p.cpv for p in plan.packages}) != len(plan.packages) or any(p.session_id == session_id for p in self.t.packages.values()):
            raise ValueError(f"session {session_id}: a package is planned twice")
        ids = self._insert_packages(session_id, plan, gates, expected, ranks, reasons or {}, reused)
        for p in plan.packages:
            self.t.edges += [(session_id, ids[p.cpv], ids[dep], kind.value, False, "") for kind in EdgeKind for dep in p.deps(kind) if dep in ids]
        self.t.edges += [(session_id, ids[d.parent], ids[d.child], d.kind.value, True, d.reason)
                         for d in plan.dropped_edges if d.parent in ids and d.child in ids]
        for cpv, needs in gates.items():
            for dep in needs:
                self.t.gates.setdefault(ids[cpv], set()).add(ids[dep])
                self.t.waiting.setdefault(ids[dep], set()).add(ids[cpv])
        session = self.t.sessions[session_id]
        session.state, session.planned_at = SessionState.RUNNING.value, self.clock.now()
        session.config_hash = plan.config_hash or session.config_hash
        what = f"{len(plan.packages)} packages, {len(plan.dropped_edges)} edges dropped as cycle breaks"
        what += f"; {len(reused)} published already with the same identity, not built again" if reused else ""
        self.add_event("session.planned", what, session_id)

    def _insert_packages(self, session_id: str, plan: Plan, gates: Mapping[str, frozenset[str]], expected: Mapping[str, float],
                         ranks: Mapping[str, float], reasons: Mapping[str, str], reused: frozenset[str]) -> dict[str, int]:
        to_build = {p.cpv for p in plan.packages} - reused
        ids: dict[str, int] = {}
        for index, p in enumerate(plan.packages):
            pid, self.t.next_package = self.t.next_package, self.t.next_package + 1
            state = PackageState.PUBLISHED if p.cpv in reused else PackageState.NEEDED
            self.t.packages[pid] = Package(
                pid, session_id, p.cpv, p.slot, p.sub_slot, p.repo, " ".join(p.use), index, state.value,
                len(gates.get(p.cpv, frozenset()) & to_build), expected.get(p.cpv, 0.0), ranks.get(p.cpv, 0.0), p.identity,
                " ".join(p.slot_deps), reason=reasons.get(p.cpv, "") if p.cpv in reused else "", change=reasons.get(p.cpv, ""))
            ids[p.cpv] = pid
        return ids

    def fail_session(self, session_id: str, error: str) -> None:
        found = self.t.sessions.get(session_id)
        if found is not None:
            found.state, found.error, found.finished_at = SessionState.FAILED.value, error, self.clock.now()
        self.add_event("session.failed", error, session_id)

    def finish_session(self, session_id: str) -> bool:
        found = self.t.sessions.get(session_id)
        if found is not None and found.state == SessionState.RUNNING.value:
            found.state, found.finished_at = SessionState.COMPLETE.value, self.clock.now()
            self.add_event("session.complete", "every package reached a final state", session_id)
            return True
        return False

    def session_gates(self, session_id: str) -> dict[str, frozenset[str]]:
        cpv = {p.id: p.cpv for p in self._session_packages(session_id)}
        return {cpv[pid]: frozenset(cpv[r] for r in needs) for pid, needs in self.t.gates.items() if pid in cpv and needs}

    def counts(self, session_id: str) -> SessionCounts:
        return SessionCounts(dict(Counter(p.state for p in self._session_packages(session_id))))

    def skip_dependents(self, package_id: int, reason: str) -> int:
        pkg = self._package(package_id)
        if pkg is None:
            return 0
        dependents = dependents_closure(pkg.cpv, self.session_gates(pkg.session_id))
        return self.skip_packages(pkg.session_id, sorted(dependents), reason) if dependents else 0

    def session_finished(self, session_id: str) -> bool:
        return self.counts(session_id).finished

    def skip_packages(self, session_id: str, cpvs: Sequence[str], reason: str) -> int:
        if not cpvs:
            return 0
        wanted, done = set(cpvs), 0
        for p in self._session_packages(session_id):
            if p.cpv in wanted and p.state == PackageState.NEEDED.value:
                p.state, p.reason, done = PackageState.SKIPPED.value, reason, done + 1
        self.add_event("package.skipped", f"{done} packages: {reason}", session_id)
        return done


class CompletionMixin(MemoryBase):
    def get_attempt(self, attempt_id: str) -> AttemptInfo | None:
        found = self.t.attempts.get(attempt_id)
        return found.info(self.t.packages[found.package_id].cpv) if found else None

    def attempt_contexts(self, attempt_ids: Sequence[str]) -> dict[str, AttemptContext]:
        found = [self.t.attempts[a] for a in sorted(set(attempt_ids)) if a in self.t.attempts]
        return {a.id: (a.info(self.t.packages[a.package_id].cpv), self.t.packages[a.package_id].info(), self.t.sessions[a.session_id].info())
                for a in found}

    def create_attempts(self, attempts: Sequence[NewAttempt]) -> None:
        missing = [new.package_id for new in attempts if new.package_id not in self.t.packages]
        if missing:
            raise LookupError(f"package {missing[0]} does not exist")
        now = self.clock.now()
        for new in attempts:
            pkg = self.t.packages[new.package_id]
            pkg.state, pkg.current_attempt = PackageState.DISPATCHED.value, new.attempt_id
            self.t.attempts[new.attempt_id] = Attempt(new.attempt_id, new.package_id, pkg.session_id, new.queue, new.drone,
                                                      AttemptState.DISPATCHED.value, now, new.expected)

    def mark_started_many(self, reports: Sequence[StartReport]) -> set[str]:
        applied: set[str] = set()
        for report in reports:
            attempt = self.t.attempts.get(report.attempt_id)
            if attempt is None or attempt.state != AttemptState.DISPATCHED.value:
                continue
            pkg = self.t.packages[attempt.package_id]
            given = attempt.drone == report.drone if attempt.drone else attempt.queue == f"drone.{report.drone}"
            if pkg.current_attempt != report.attempt_id or not given:
                continue
            attempt.state, attempt.drone, attempt.started_at = AttemptState.STARTED.value, report.drone, report.started_at
            pkg.state = PackageState.BUILDING.value
            applied.add(report.attempt_id)
        for name in sorted({r.drone for r in reports}):
            drone = self.t.drones.get(name)
            if drone is not None:
                drone.last_seen, drone.state = self.clock.now(), "online"
        return applied

    def mark_published_many(self, items: Sequence[tuple[BuildResult, PublishedArtifact, PackageInfo]]) -> None:
        now = self.clock.now()
        for result, artifact, info in items:
            attempt = self.t.attempts[result.attempt_id]
            self._finish(attempt, result, Outcome.SUCCESS.value)
            attempt.published_at, attempt.artifact, attempt.sha256, attempt.size = now, artifact.path, artifact.sha256, artifact.size
            attempt.build_seconds = result.build_seconds or None
            pkg = self.t.packages[info.id]
            pkg.state, pkg.reason = PackageState.PUBLISHED.value, ""
            for waiter in self.t.waiting.get(info.id, ()):
                self.t.packages[waiter].pending -= 1
        for name, built in sorted(Counter(r.drone for r, _, _ in items).items()):
            if name in self.t.drones:
                self.t.drones[name].builds += built
                self.t.drones[name].last_seen = now
        for result, _, info in items:
            self.t.event(now, "package.published", f"{info.cpv} built by {result.drone}", info.session_id, info.cpv)

    def _finish(self, attempt: Attempt, result: BuildResult, outcome: str) -> None:
        attempt.state, attempt.outcome, attempt.drone = AttemptState.FINISHED.value, outcome, result.drone
        attempt.started_at = attempt.started_at or result.started_at or None
        attempt.finished_at = result.finished_at or self.clock.now()
        attempt.log_tail = result.log_tail[-LOG_TAIL:]

    def mark_failed(self, result: BuildResult, error: str, kind: str = "unknown", infrastructure: bool = False) -> None:
        attempt = self._existing(result.attempt_id)
        self._finish(attempt, result, Outcome.FAILED.value)
        attempt.error, attempt.failure_kind, attempt.infrastructure = error, kind, infrastructure
        attempt.build_seconds = result.build_seconds or None
        pkg = self.t.packages[attempt.package_id]
        pkg.state, pkg.reason = PackageState.FAILED.value, error
        drone = self.t.drones.get(result.drone)
        if drone is not None:
            drone.failures, drone.last_seen = drone.failures + 1, self.clock.now()
        what = "infrastructure failure" if infrastructure else "failed"
        self.add_event("package.failed", f"{pkg.cpv} {what} on {result.drone} ({kind}): {error}", pkg.session_id, pkg.cpv)

    def mark_cancelled(self, result: BuildResult, reason: str) -> None:
        attempt = self._existing(result.attempt_id)
        self._finish(attempt, result, Outcome.CANCELLED.value)
        attempt.error, attempt.counted = reason, False
        pkg = self.t.packages[attempt.package_id]
        pkg.state, pkg.reason, pkg.current_attempt = PackageState.NEEDED.value, reason, None
        self.add_event("attempt.cancelled", f"{pkg.cpv} on {result.drone}: {reason}", pkg.session_id, pkg.cpv)

    def _existing(self, attempt_id: str) -> Attempt:
        found = self.t.attempts.get(attempt_id)
        if found is None:
            raise LookupError(f"attempt {attempt_id} does not exist")
        return found

    def note_stale_report(self, attempt_id: str, note: str) -> None:
        found = self.t.attempts.get(attempt_id)
        self.add_event("attempt.stale", note, found.session_id if found else None, attempt_id)
