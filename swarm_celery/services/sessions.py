"""Queueing a session: the one way a world becomes work (CLI ``queue add``, the API, profile syncs, the demo).

The session is recorded first (the record is the truth), then ``swarm.plan`` goes to the
coordinator queue. When the broker cannot be reached the session is marked failed with why,
so nothing waits for a plan that was never sent, and the BrokerError goes on to the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.errors import BrokerError
from swarm_celery.ports import PlanQueue, SessionStore


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class SessionQueue:
    def __init__(self, store: SessionStore, plans: PlanQueue, simulated: bool, new_id: Callable[[], str] = new_session_id) -> None:
        self.store = store
        self.plans = plans
        self.simulated = simulated  # whether this swarm's drones simulate builds (a property of the swarm, not of who queues)
        self.new_id = new_id

    def queue(self, request: ResolveRequest, *, priority: int = 0, build_profile: str = "", reuse: bool = False) -> str:
        """Record a session for ``request`` and send it to the coordinator to plan; returns its id.

        ``reuse``: build only what is not published already with the same identity (the profile's packages for a
        build profile's session, anything the binhost holds for any other)."""
        session_id = self.new_id()
        self.store.create_session(session_id, request, self.simulated, priority, build_profile=build_profile, reuse=reuse)
        try:
            self.plans.send_plan(session_id)
        except BrokerError as exc:
            self.store.fail_session(session_id, f"could not reach the broker: {exc}")
            raise
        return session_id


__all__ = ["SessionQueue", "new_session_id"]
