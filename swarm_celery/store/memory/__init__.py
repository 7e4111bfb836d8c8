"""MemoryStore: every store role (ports.store) on plain Python data, for unit tests and the contract suite.

It does what :class:`~swarm_celery.store.repository.SqlStore` does, statement for
statement, without a database: the contract tests (``tests/contract``) run the same
cases against both. Not thread-safe: one caller at a time (a test, or one writer).
"""

from __future__ import annotations

from swarm_celery.ports import Clock, ControlStore, CoordinatorStore, ExplainStore, HealthStore, ProfileStore, SessionStore
from swarm_celery.store.memory.dispatch import ControlMixin, DispatchMixin, LeaseMixin
from swarm_celery.store.memory.fleet import FleetMixin, HealthMixin, ProfileMixin
from swarm_celery.store.memory.rows import Event, Tables
from swarm_celery.store.memory.sessions import CompletionMixin, SessionsMixin


class MemoryStore(SessionsMixin, CompletionMixin, DispatchMixin, LeaseMixin, ControlMixin, FleetMixin, HealthMixin, ProfileMixin):
    def __init__(self, clock: Clock) -> None:
        self.t = Tables()
        self.clock = clock

    @property
    def events(self) -> list[Event]:
        """Every event recorded, oldest first."""
        return list(self.t.events)


def _plays_every_role(store: MemoryStore) -> tuple[CoordinatorStore, ControlStore, ExplainStore, ProfileStore, HealthStore, SessionStore]:
    """mypy holds the store to every role's Protocol (ports.store) through this function's return type."""
    return store, store, store, store, store, store


__all__ = ["MemoryStore"]
