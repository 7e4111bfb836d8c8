"""The query side of the record, as the CLI, the API and the demo read it (store.queries implements it)."""

from __future__ import annotations

from typing import Protocol

from swarm_celery.domain.views import (
    AttemptOwner,
    AttemptView,
    DroneView,
    EventView,
    PackageView,
    ProbeView,
    QueuedPackage,
    RunningBuild,
    SessionView,
)


class RecordReader(Protocol):
    def integrity(self) -> str: ...  # "" when the record reads whole, else what is wrong (RecordError when it cannot be read)
    def latest_session(self) -> str | None: ...
    def session(self, session_id: str) -> SessionView | None: ...
    def sessions(self, limit: int = 50) -> list[SessionView]: ...  # newest first
    def attempt(self, attempt_id: str) -> AttemptOwner | None: ...
    def running(self, session_id: str) -> list[RunningBuild]: ...
    def history(self, session_id: str) -> list[AttemptView]: ...
    def queue(self, session_id: str | None) -> list[QueuedPackage]: ...
    def fleet(self) -> list[DroneView]: ...
    def probes(self, drone: str, limit: int = 50) -> list[ProbeView]: ...  # newest first
    def packages(self, session_id: str) -> list[PackageView]: ...
    def event_for(self, subject: str) -> str | None: ...  # the newest control event's message about a request id
    def events(self, session_id: str | None, limit: int = 50, kind: str = "", since: float = 0.0,
               subject: str = "") -> list[EventView]: ...  # the newest ``limit`` that match, oldest first
