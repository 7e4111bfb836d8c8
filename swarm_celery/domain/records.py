"""Read models the services exchange with the store (plain frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from swarm_celery.domain.model import AttemptState, PackageState, SessionState


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    state: SessionState
    arch: str
    gentoo_profile: str
    request_json: str
    error: str
    created_at: float
    planned_at: float | None
    finished_at: float | None
    simulated: bool
    config_hash: str = ""
    build_profile: str = ""  # the build profile it was queued for ("" when none)
    reuse: bool = False  # build only what the profile has not published with the same identity


@dataclass(frozen=True, slots=True)
class PackageInfo:
    id: int
    session_id: str
    cpv: str
    slot: str
    sub_slot: str
    repo: str
    use: tuple[str, ...]
    merge_index: int
    state: PackageState
    current_attempt: str | None
    reason: str = ""
    expected: float = 0.0
    rank: float = 0.0
    priority: int = 0
    not_before: float = 0.0
    pending: int = 0
    slot_deps: tuple[str, ...] = ()  # its ``:=`` bindings as planned, ``cat/pkg:slot/subslot`` (domain.identity)


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    id: str
    package_id: int
    session_id: str
    cpv: str
    queue: str
    drone: str | None
    state: AttemptState
    outcome: str | None
    dispatched_at: float
    started_at: float | None
    finished_at: float | None
    published_at: float | None = None
    log_tail: str = ""
    error: str = ""
    expected: float = 0.0
    build_seconds: float | None = None
    failure_kind: str = ""
    infrastructure: bool = False


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """How many packages of a session are in each state."""

    by_state: dict[str, int]

    @property
    def planned(self) -> int:
        return sum(self.by_state.values())

    def get(self, state: PackageState) -> int:
        return self.by_state.get(state.value, 0)

    @property
    def finished(self) -> bool:
        return self.planned > 0 and all(PackageState(s).terminal for s, n in self.by_state.items() if n)


@dataclass(frozen=True, slots=True)
class PublishedArtifact:
    path: str  # relative to the arch's binhost tree
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class DroneLoad:
    """A drone as the dispatcher sees it: capacity, switches, and the builds it has in flight."""

    name: str
    arch: str
    slots: int
    paused: bool
    grounded_until: float
    last_seen: float
    running: tuple[tuple[float, float], ...]  # (dispatched or started at, expected seconds) per build in flight
    held: str = ""  # why the fleet probe holds it back ("" = it does not): a stale portage tree
    builder: str = ""  # what it announced: emerge (real builds) | simulate; it gets only the sessions of its kind


@dataclass(frozen=True, slots=True)
class ReadyPackage:
    """A package whose gates are all published, with what placement needs to know."""

    id: int
    session_id: str
    cpv: str
    rank: float
    expected: float
    priority: int
    merge_index: int
    not_before: float
    failed_on: frozenset[str]
    slot: str = "0"
    repo: str = "gentoo"
    use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StartReport:
    """A drone began an attempt (``swarm.build_started``)."""

    attempt_id: str
    drone: str
    arch: str
    started_at: float


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """An attempt the scheduler is about to send: ``package_id`` to ``drone`` through ``queue``."""

    attempt_id: str
    package_id: int
    queue: str
    drone: str | None
    expected: float
