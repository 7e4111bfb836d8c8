"""Read models of the live views: the dashboard, `build-swarm monitor` and /metrics (what store.queries returns for them).

Like domain.views, field names are the JSON keys the dashboard's polling endpoints serve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from swarm_celery.domain.histogram import Histogram
from swarm_celery.domain.views import RunningBuild, SessionView


@dataclass(frozen=True)
class SessionProgress:
    """A session at a glance: packages done of planned, what builds now, and when it should end."""

    session: SessionView
    done: int
    eta_seconds: float | None  # None: not running, or nothing to tell by yet
    pace: float  # wall seconds per expected second (domain.scheduling.swarm_pace)
    running: tuple[RunningBuild, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self.session), "done": self.done, "eta_seconds": self.eta_seconds, "pace": self.pace,
                "running": [asdict(r) for r in self.running]}


@dataclass(frozen=True)
class Overview:
    at: float
    paused: bool  # the whole swarm: no new work for any drone
    sessions: tuple[SessionProgress, ...]  # the newest first
    drones: dict[str, int]  # state → how many (online, offline, grounded, paused, unannounced)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "paused": self.paused, "sessions": [s.to_json() for s in self.sessions], "drones": self.drones}


@dataclass(frozen=True)
class PlanRow:
    """One package of a plan as the dashboard lists it: ready (every gate published), waiting (on N), in flight, final."""

    cpv: str
    state: str
    stage: str  # ready | waiting | building | done | blocked (blocked, failed, skipped, cancelled)
    pending: int  # build dependencies not yet published
    rank: float  # remaining critical path (expected seconds) from here
    expected: float
    reason: str


@dataclass(frozen=True)
class LogChunk:
    """Part of a build log from ``offset`` on; ``done`` when the attempt is over and nothing more will come."""

    attempt: str
    offset: int
    text: str
    next_offset: int
    done: bool
    exists: bool


@dataclass(frozen=True)
class RecordMetrics:
    """What /metrics computes from the record at scrape time (counters are counts of rows, so they survive restarts)."""

    queue_depth: dict[tuple[str, str], int]  # (arch, stage: ready | dispatched) → packages
    running: dict[str, int]  # drone → builds started and not finished
    build_seconds: dict[str, Histogram]  # class (success or the failure class) → wall seconds on the drone
    failures: dict[str, int]  # failure class → failed attempts
    reclaims: int
    stale_reports: int
    grounded: int  # drones grounded now
    publish_latency: Histogram  # seconds from a build's end on the drone to its package in the binhost
    coordinator: dict[str, Histogram] = field(default_factory=dict)  # batch kind → seconds per batch (services.timings)


def without_subject(message: str, subject: str | None) -> str:
    """An event's message without the subject it starts with (where the subject has its own column)."""
    for lead in (f"{subject}: ", f"{subject} "):
        if subject and message.startswith(lead):
            return message[len(lead):]
    return message


__all__ = ["LogChunk", "Overview", "PlanRow", "RecordMetrics", "SessionProgress", "without_subject"]
