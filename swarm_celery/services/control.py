"""Operator controls, applied by the coordinator (the only writer) — see :mod:`swarm_celery.domain.controls`.

Each action is idempotent, records a ``control.<action>`` event naming the request
(the CLI waits for it), and ends with a dispatch so its effect is immediate.
Attempts taken back are revoked on the workers and fenced in the store, so a late
report from them is ignored.
"""

from __future__ import annotations

from swarm_celery.domain.controls import Action, ControlRequest
from swarm_celery.domain.graph import dependents_closure
from swarm_celery.domain.model import PackageState, drone_queues
from swarm_celery.domain.records import PackageInfo
from swarm_celery.errors import ControlFailed
from swarm_celery.ports import Broker, Clock, ControlStore
from swarm_celery.services.dispatch import PAUSED_FLAG, Dispatcher


class Controller:
    def __init__(self, store: ControlStore, broker: Broker, dispatcher: Dispatcher, clock: Clock) -> None:
        self.store = store
        self.broker = broker
        self.dispatcher = dispatcher
        self.clock = clock

    def apply(self, request: ControlRequest) -> str:
        """Apply the request; returns what happened (one line). Records it as an event either way."""
        handler = getattr(self, f"_{request.action.value}")
        try:
            outcome: str = handler(request)
        except ControlFailed as exc:
            self.store.add_event(f"control.{request.action}", f"error: {exc}", request.session or None, request.request_id)
            return f"error: {exc}"
        self.store.add_event(f"control.{request.action}", outcome, request.session or None, request.request_id)
        for arch in self.store.arches():
            self.dispatcher.dispatch(arch)
        return outcome

    def _pause(self, req: ControlRequest) -> str:
        if req.drone:
            self._drone_exists(self.store.set_drone_paused(req.drone, True), req.drone)
            return f"drone {req.drone} paused: it gets no new work; running builds finish"
        changed = self.store.set_flag(PAUSED_FLAG, "1")
        return "dispatch paused: running builds finish, nothing new starts" + ("" if changed else " (it already was)")

    def _resume(self, req: ControlRequest) -> str:
        if req.drone:
            self._drone_exists(self.store.set_drone_paused(req.drone, False), req.drone)
            return f"drone {req.drone} resumed"
        changed = self.store.set_flag(PAUSED_FLAG, "")
        return "dispatch resumed" + ("" if changed else " (it was not paused)")

    def _unground(self, req: ControlRequest) -> str:
        self._drone_exists(self.store.set_grounded(req.drone, 0.0, "control unground"), req.drone)
        self.broker.start_consuming(req.drone, drone_queues(req.drone, self.store.drone_arch(req.drone)))
        return f"drone {req.drone} may take work again"

    def _unblock(self, req: ControlRequest) -> str:
        found = self._find(req)
        stuck = [p for p in found if p.state in (PackageState.BLOCKED, PackageState.FAILED)]
        if not stuck:
            return f"nothing to unblock: {req.atom} is {', '.join(sorted({p.state.value for p in found}))}"
        return self._reopen(stuck, f"unblocked {', '.join(p.cpv for p in stuck)}")

    def _retry_failures(self, req: ControlRequest) -> str:
        stuck = self.store.packages_in_state([PackageState.BLOCKED, PackageState.FAILED], req.session)
        if not stuck:
            return "no blocked or failed packages"
        return self._reopen(stuck, f"retrying {len(stuck)} blocked or failed packages")

    def _reopen(self, stuck: list[PackageInfo], what: str) -> str:
        ids = [p.id for p in stuck]
        self.store.forget_failures(ids)
        skipped = {(p.session_id, p.cpv): p.id for p in self.store.packages_in_state([PackageState.SKIPPED])}
        gates = {session: self.store.session_gates(session) for session in {p.session_id for p in stuck}}
        dependents = {skipped[(pkg.session_id, cpv)] for pkg in stuck
                      for cpv in dependents_closure(pkg.cpv, gates[pkg.session_id]) if (pkg.session_id, cpv) in skipped}
        moved = self.store.reopen(ids + sorted(dependents), what)
        return f"{what}: {moved} packages back in the queue ({len(dependents)} that were skipped because of them)"

    def _reset(self, req: ControlRequest) -> str:
        found = [p for p in self._find(req) if p.state != PackageState.PUBLISHED]
        if not found:
            return f"{req.atom} is published already; queue a new session to rebuild it"
        attempts = self.store.in_flight(package_ids=[p.id for p in found])
        taken = self._take_back(attempts, PackageState.NEEDED, "reset by an operator")
        self.store.forget_failures([p.id for p in found])
        moved = self.store.reopen([p.id for p in found], f"reset {req.atom}")
        return f"reset {', '.join(p.cpv for p in found)}: {taken} running attempts taken back, {moved} reopened"

    def _rebalance(self, req: ControlRequest) -> str:
        queued = [a.id for arch in self.store.arches() for a in self.store.queued_attempts(arch)]
        self.broker.revoke(queued)
        moved = self.store.fence_attempts(queued, PackageState.NEEDED, "taken back by rebalance")
        return f"rebalanced: {moved} queued builds taken back and placed again"

    def _clear_failures(self, req: ControlRequest) -> str:
        forgotten = self.store.forget_failures(drone=req.drone)
        if req.drone and self.store.set_grounded(req.drone, 0.0, "failures cleared"):
            self.broker.start_consuming(req.drone, drone_queues(req.drone, self.store.drone_arch(req.drone)))
        return f"forgot {forgotten} failed attempts" + (f" of {req.drone}" if req.drone else "")

    def _cancel(self, req: ControlRequest) -> str:
        if not self.store.cancel_session(req.session, "cancelled by an operator"):
            raise ControlFailed(f"no session {req.session}; see `build-swarm history`")
        taken = self._take_back(self.store.in_flight(session_id=req.session), PackageState.CANCELLED, "session cancelled")
        return f"session {req.session} cancelled; {taken} running builds taken back"

    def _take_back(self, attempts: list[str], state: PackageState, reason: str) -> int:
        self.broker.revoke(attempts)
        return self.store.fence_attempts(attempts, state, reason)

    def _find(self, req: ControlRequest) -> list[PackageInfo]:
        found = self.store.find_packages(req.atom, req.session)
        if not found:
            raise ControlFailed(f"{req.atom} is in no running or complete session; see `build-swarm status`")
        return found

    @staticmethod
    def _drone_exists(found: bool, name: str) -> None:
        if not found:
            raise ControlFailed(f"no drone named {name}; see `build-swarm fleet`")


__all__ = ["Action", "Controller"]
