"""The in-memory store's rows: mutable records shaped like the SQL tables (store.models), and their conversions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from swarm_celery.domain.fleet import DroneCheck
from swarm_celery.domain.model import AttemptState, PackageState, SessionState
from swarm_celery.domain.records import AttemptInfo, PackageInfo, SessionInfo
from swarm_celery.domain.snapshots import Snapshot

log = logging.getLogger("swarm_celery.events")


@dataclass
class Session:
    id: str
    state: str
    arch: str
    gentoo_profile: str
    request_json: str
    config_hash: str
    simulated: bool
    priority: int
    error: str
    created_at: float
    build_profile: str = ""
    reuse: bool = False
    planned_at: float | None = None
    finished_at: float | None = None
    seq: int = 0  # insertion order: ties of created_at sort as the SQL store's do not matter, this keeps them stable

    def info(self) -> SessionInfo:
        return SessionInfo(id=self.id, state=SessionState(self.state), arch=self.arch, gentoo_profile=self.gentoo_profile,
                           request_json=self.request_json, error=self.error, created_at=self.created_at, planned_at=self.planned_at,
                           finished_at=self.finished_at, simulated=self.simulated, config_hash=self.config_hash,
                           build_profile=self.build_profile, reuse=self.reuse)


@dataclass
class Package:
    id: int
    session_id: str
    cpv: str
    slot: str
    sub_slot: str
    repo: str
    use: str
    merge_index: int
    state: str
    pending: int
    expected: float
    rank: float
    identity: str
    slot_deps: str
    reason: str = ""
    change: str = ""
    priority: int = 0
    not_before: float = 0.0
    current_attempt: str | None = None

    def info(self) -> PackageInfo:
        return PackageInfo(id=self.id, session_id=self.session_id, cpv=self.cpv, slot=self.slot, sub_slot=self.sub_slot, repo=self.repo,
                           use=tuple(self.use.split()), merge_index=self.merge_index, state=PackageState(self.state),
                           current_attempt=self.current_attempt, reason=self.reason, expected=self.expected, rank=self.rank,
                           priority=self.priority, not_before=self.not_before, pending=self.pending,
                           slot_deps=tuple(self.slot_deps.split()))


@dataclass
class Attempt:
    id: str
    package_id: int
    session_id: str
    queue: str
    drone: str | None
    state: str
    dispatched_at: float
    expected: float
    outcome: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    published_at: float | None = None
    beat_at: float | None = None
    log_tail: str = ""
    error: str = ""
    failure_kind: str = ""
    infrastructure: bool = False
    counted: bool = True
    build_seconds: float | None = None
    artifact: str | None = None
    sha256: str | None = None
    size: int | None = None

    def info(self, cpv: str) -> AttemptInfo:
        return AttemptInfo(id=self.id, package_id=self.package_id, session_id=self.session_id, cpv=cpv, queue=self.queue, drone=self.drone,
                           state=AttemptState(self.state), outcome=self.outcome, dispatched_at=self.dispatched_at,
                           started_at=self.started_at, finished_at=self.finished_at, published_at=self.published_at,
                           log_tail=self.log_tail, error=self.error, expected=self.expected, build_seconds=self.build_seconds,
                           failure_kind=self.failure_kind, infrastructure=self.infrastructure)


@dataclass
class Drone:
    name: str
    arch: str
    first_seen: float
    last_seen: float
    state: str = "online"
    builds: int = 0
    failures: int = 0
    cores: int = 0
    memory_mb: int = 0
    disk_free_mb: int = 0
    slots: int = 1
    paused: bool = False
    grounded_until: float = 0.0
    tree_timestamp: str = ""
    gentoo_profile: str = ""
    payload_version: str = ""
    builder: str = ""
    payload_hash: str = ""


@dataclass
class Health:
    level: int = 0
    acted_at: float = 0.0
    silent_since: float = 0.0
    error: str = ""
    findings: str = ""
    tree_hold: str = ""
    sync_asked_at: float = 0.0


@dataclass(frozen=True)
class Event:
    ts: float
    kind: str
    message: str
    session_id: str | None
    subject: str


@dataclass(frozen=True)
class HistoryBuild:
    cpv: str
    package: str
    seconds: float
    started_at: float
    finished_at: float
    source: str


@dataclass
class Profile:
    body: str  # BuildProfile JSON
    auto_rebuild: bool
    created_at: float
    updated_at: float


@dataclass
class Tables:
    """Everything the store holds."""

    sessions: dict[str, Session] = field(default_factory=dict)
    packages: dict[int, Package] = field(default_factory=dict)
    edges: list[tuple[str, int, int, str, bool, str]] = field(default_factory=list)  # session, parent, child, kind, dropped, reason
    gates: dict[int, set[int]] = field(default_factory=dict)  # package → the packages it waits for
    waiting: dict[int, set[int]] = field(default_factory=dict)  # package → the packages that wait for it
    attempts: dict[str, Attempt] = field(default_factory=dict)
    drones: dict[str, Drone] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)
    history: list[HistoryBuild] = field(default_factory=list)
    profiles: dict[str, Profile] = field(default_factory=dict)
    probes: list[DroneCheck] = field(default_factory=list)  # oldest first
    health: dict[str, Health] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    next_package: int = 1

    def event(self, ts: float, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        log.info("event %s [%s] %s", kind, subject or "-", message)
        self.events.append(Event(ts, kind, message, session_id, subject))
