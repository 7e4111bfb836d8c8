"""Dispatch, leases and controls in memory: the SqlStore's dispatch_repo.py, lease_repo.py and control_repo.py."""

from __future__ import annotations

from collections.abc import Sequence

from swarm_celery.domain.controls import matches_atom
from swarm_celery.domain.emerge_log import LoggedBuild
from swarm_celery.domain.leases import Lease, Reclaim
from swarm_celery.domain.migration import RunningBuild
from swarm_celery.domain.model import AttemptState, Outcome, PackageState, SessionState
from swarm_celery.domain.records import AttemptInfo, PackageInfo, ReadyPackage
from swarm_celery.domain.scheduling import FailedAttempt, history_key
from swarm_celery.store.memory.rows import Attempt, HistoryBuild, Package
from swarm_celery.store.memory.sessions import MemoryBase

IN_FLIGHT = (AttemptState.DISPATCHED.value, AttemptState.STARTED.value)
SPEED_WINDOW = 50  # as store.dispatch_repo
PACE_WINDOW = 100
OPEN_SESSIONS = (SessionState.RUNNING.value, SessionState.COMPLETE.value)
REOPENABLE = (PackageState.BLOCKED.value, PackageState.FAILED.value, PackageState.SKIPPED.value, PackageState.CANCELLED.value)


class DispatchMixin(MemoryBase):
    def ready_packages(self, arch: str, limit: int | None = None) -> list[ReadyPackage]:
        running = {s.id: s.priority for s in self.t.sessions.values() if s.state == SessionState.RUNNING.value and s.arch == arch}
        ready = [p for p in self.t.packages.values()
                 if p.session_id in running and p.state == PackageState.NEEDED.value and p.pending <= 0]
        if limit is not None:
            ready = sorted(ready, key=lambda p: (-(p.priority + running[p.session_id]), -p.rank, p.id))[:limit]
        return [ReadyPackage(p.id, p.session_id, p.cpv, p.rank, p.expected, p.priority + running[p.session_id], p.merge_index,
                             p.not_before, frozenset(self._failed_on(p.id)) if p.not_before > 0 else frozenset(), p.slot, p.repo,
                             tuple(p.use.split())) for p in ready]

    def _counted_failures(self, package_id: int) -> list[Attempt]:
        return [a for a in self.t.attempts.values() if a.package_id == package_id and a.outcome == Outcome.FAILED.value and a.counted]

    def _failed_on(self, package_id: int) -> set[str]:
        return {a.drone for a in self._counted_failures(package_id) if a.drone}

    def failures(self, package_id: int) -> list[FailedAttempt]:
        found = sorted(self._counted_failures(package_id), key=lambda a: a.finished_at or 0.0)
        return [FailedAttempt(a.drone or "?", a.infrastructure) for a in found]

    def requeue(self, package_id: int, not_before: float, reason: str) -> None:
        pkg = self._package(package_id)
        if pkg is not None:
            pkg.state, pkg.not_before, pkg.reason, pkg.current_attempt = PackageState.NEEDED.value, not_before, reason, None
            self.add_event("package.retry", f"{pkg.cpv}: {reason}", pkg.session_id, pkg.cpv)

    def block_package(self, package_id: int, reason: str) -> None:
        pkg = self._package(package_id)
        if pkg is not None:
            pkg.state, pkg.reason = PackageState.BLOCKED.value, reason
            self.add_event("package.blocked", f"{pkg.cpv}: {reason}", pkg.session_id, pkg.cpv)

    def history_seconds(self) -> dict[str, list[float]]:
        history: dict[str, list[float]] = {}
        for a in self.t.attempts.values():
            if a.outcome == Outcome.SUCCESS.value and a.build_seconds is not None:
                history.setdefault(history_key(self.t.packages[a.package_id].cpv), []).append(float(a.build_seconds))
        for build in self.t.history:
            history.setdefault(build.package, []).append(build.seconds)
        return history

    def import_history(self, builds: Sequence[LoggedBuild], source: str) -> int:
        known = {(b.cpv, b.finished_at) for b in self.t.history if b.source == source}
        new = [b for key, b in {(b.cpv, float(b.finished)): b for b in builds}.items() if key not in known]
        self.t.history += [HistoryBuild(b.cpv, history_key(b.cpv), float(b.seconds), float(b.started), float(b.finished), source)
                           for b in new]
        if new:
            self.add_event("history.imported", f"{len(new)} builds from {source}", None, source)
        return len(new)

    def _successes(self, arch: str) -> list[Attempt]:
        """Successful attempts of ``arch`` with an expected time, the latest first."""
        found = [a for a in self.t.attempts.values() if a.outcome == Outcome.SUCCESS.value and a.expected > 0
                 and self.t.sessions[a.session_id].arch == arch]
        return sorted(found, key=lambda a: -(a.finished_at or 0.0))

    def speed_samples(self, arch: str) -> dict[str, list[tuple[float, float]]]:
        samples: dict[str, list[tuple[float, float]]] = {}
        for a in self._successes(arch):
            if a.drone not in self.t.drones or self.t.drones[a.drone].arch != arch:
                continue  # as the SqlStore: the drones of the arch
            mine = samples.setdefault(a.drone, [])
            if a.build_seconds is not None and len(mine) < SPEED_WINDOW:
                mine.append((a.build_seconds, a.expected))
        return {drone: found for drone, found in samples.items() if found}

    def pace_samples(self, arch: str) -> list[tuple[float, float]]:
        timed = [a for a in self._successes(arch) if a.started_at is not None and a.finished_at is not None]
        return [((a.finished_at or 0.0) - (a.started_at or 0.0), a.expected) for a in timed[:PACE_WINDOW]]

    def running_builds(self, arch: str) -> list[RunningBuild]:
        return [RunningBuild(a.id, a.package_id, a.session_id, pkg.cpv, a.drone or "?", a.started_at or a.dispatched_at, a.expected, pkg.rank,
                             frozenset(self._failed_on(a.package_id)))
                for a in self.t.attempts.values() if a.state in IN_FLIGHT and self.t.sessions[a.session_id].arch == arch
                and (pkg := self.t.packages[a.package_id]).current_attempt == a.id]

    def queued_attempts(self, arch: str) -> list[AttemptInfo]:
        return [a.info(pkg.cpv) for a in self.t.attempts.values() if a.state == AttemptState.DISPATCHED.value
                and self.t.sessions[a.session_id].arch == arch and (pkg := self.t.packages[a.package_id]).current_attempt == a.id]

    def fence_attempts(self, attempt_ids: Sequence[str], package_state: PackageState, reason: str) -> int:
        if not attempt_ids:
            return 0
        wanted = set(attempt_ids)
        for attempt_id in wanted:
            attempt = self.t.attempts.get(attempt_id)
            if attempt is not None and attempt.state in IN_FLIGHT:
                attempt.state, attempt.error, attempt.finished_at = AttemptState.STALE.value, reason, self.clock.now()
        moved = [p for p in self.t.packages.values() if p.current_attempt in wanted]
        for p in moved:
            p.state, p.current_attempt, p.reason = package_state.value, None, reason
        return len(moved)


class LeaseMixin(MemoryBase):
    def renew_leases(self, drone: str, attempt_ids: Sequence[str]) -> int:
        renewed = 0
        for attempt_id in set(attempt_ids):
            a = self.t.attempts.get(attempt_id)
            if a is not None and a.state in IN_FLIGHT and (a.drone == drone or a.queue == f"drone.{drone}"):
                a.beat_at, renewed = self.clock.now(), renewed + 1
        return renewed

    def leases(self) -> tuple[list[Lease], dict[str, float]]:
        leases = [Lease(a.id, pkg.cpv, a.drone or a.queue.removeprefix("drone."), a.state == AttemptState.STARTED.value,
                        max(t for t in (a.dispatched_at, a.started_at, a.beat_at) if t is not None))
                  for a in self.t.attempts.values()
                  if a.state in IN_FLIGHT and (pkg := self.t.packages[a.package_id]).current_attempt == a.id]
        return leases, {d.name: d.last_seen for d in self.t.drones.values()}

    def reclaim_attempts(self, reclaims: Sequence[Reclaim]) -> int:
        now, moved = self.clock.now(), 0
        for item in reclaims:
            attempt = self.t.attempts.get(item.attempt_id)
            if attempt is None or attempt.state not in IN_FLIGHT:
                continue
            attempt.state, attempt.error, attempt.finished_at = AttemptState.STALE.value, f"reclaimed: {item.reason}", now
            pkg = self.t.packages[attempt.package_id]
            if pkg.current_attempt == item.attempt_id:
                pkg.state, pkg.current_attempt, pkg.reason = PackageState.NEEDED.value, None, f"reclaimed: {item.reason}"
                moved += 1
            self.add_event("attempt.reclaimed", item.reason, attempt.session_id, item.attempt_id)
        return moved


class ControlMixin(MemoryBase):
    def _open(self, session_id: str) -> list[Package]:
        """Packages of ``session_id``, or of every running or complete session, newest session first."""
        sessions = sorted((s for s in self.t.sessions.values() if (s.id == session_id if session_id else s.state in OPEN_SESSIONS)),
                          key=lambda s: (-s.created_at, -s.seq))
        order = {s.id: i for i, s in enumerate(sessions)}
        return sorted((p for p in self.t.packages.values() if p.session_id in order), key=lambda p: (order[p.session_id], p.id))

    def find_packages(self, atom: str, session_id: str = "") -> list[PackageInfo]:
        return [p.info() for p in self._open(session_id) if matches_atom(atom, p.cpv)]

    def packages_in_state(self, states: Sequence[PackageState], session_id: str = "") -> list[PackageInfo]:
        wanted = {s.value for s in states}
        return [p.info() for p in self._open(session_id) if p.state in wanted]

    def package_states(self, session_id: str) -> dict[str, PackageState]:
        return {p.cpv: PackageState(p.state) for p in self._session_packages(session_id)}

    def forget_failures(self, package_ids: Sequence[int] = (), drone: str = "") -> int:
        forgotten = 0
        for a in self.t.attempts.values():
            if a.outcome == Outcome.FAILED.value and a.counted and (not package_ids or a.package_id in package_ids) \
                    and (not drone or a.drone == drone):
                a.counted, forgotten = False, forgotten + 1
        if drone and drone in self.t.drones:
            self.t.drones[drone].failures = 0
        return forgotten

    def reopen(self, package_ids: Sequence[int], reason: str) -> int:
        if not package_ids:
            return 0
        found = [self.t.packages[i] for i in set(package_ids) if i in self.t.packages]
        moved = [p for p in found if p.state in REOPENABLE]
        for p in moved:
            p.state, p.reason, p.not_before, p.current_attempt = PackageState.NEEDED.value, "", 0.0, None
        for session_id in {p.session_id for p in found}:
            session = self.t.sessions[session_id]
            if session.state == SessionState.COMPLETE.value:
                session.state, session.finished_at = SessionState.RUNNING.value, None
        if moved:
            self.add_event("package.reopened", f"{len(moved)} packages back in the queue: {reason}", None)
        return len(moved)

    def in_flight(self, package_ids: Sequence[int] = (), session_id: str = "") -> list[str]:
        return [p.current_attempt for p in self.t.packages.values()
                if p.current_attempt and self.t.attempts[p.current_attempt].state in IN_FLIGHT
                and (not package_ids or p.id in package_ids) and (not session_id or p.session_id == session_id)]

    def cancel_session(self, session_id: str, reason: str) -> bool:
        session = self.t.sessions.get(session_id)
        if session is None:
            return False
        if session.state in (SessionState.CANCELLED.value, SessionState.FAILED.value):
            return True
        session.state, session.finished_at, session.error = SessionState.CANCELLED.value, self.clock.now(), reason
        for p in self._session_packages(session_id):
            if p.state == PackageState.NEEDED.value:
                p.state, p.reason = PackageState.CANCELLED.value, reason
        self.add_event("session.cancelled", reason, session_id)
        return True
