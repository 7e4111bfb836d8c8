"""Read models: what the query side (store.queries) returns, the API serves and the CLI shows — typed, frozen.

Field names are the JSON keys of the API and of every ``--json`` output (``as_json``);
``profile`` on a session or a drone is the deprecated alias of ``gentoo_profile``, kept for
scripts written before the rename.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionView:
    session: str
    state: str
    arch: str
    gentoo_profile: str
    config_hash: str | None
    simulated: bool
    error: str | None
    priority: int
    created_at: float | None
    planned_at: float | None
    finished_at: float | None
    planned: int
    counts: dict[str, int]
    build_profile: str = ""
    profile: str = field(default="", metadata={"deprecated": "gentoo_profile"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", self.gentoo_profile)


@dataclass(frozen=True)
class RunningBuild:
    cpv: str
    drone: str | None
    started_at: float | None
    attempt: str = ""
    expected: float = 0.0  # expected seconds (the scheduler's weight at dispatch), before the swarm's pace


@dataclass(frozen=True)
class SessionStatus:
    """A session with what is building right now (`build-swarm status`)."""

    session: SessionView
    running: tuple[RunningBuild, ...]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self.session), "running": [asdict(r) for r in self.running]}


@dataclass(frozen=True)
class PackageView:
    cpv: str
    state: str
    reason: str | None
    slot: str | None
    repo: str | None
    identity: str = ""
    change: str = ""  # why a build profile's session builds it (or does not)
    slot_deps: str = ""
    pending: int = 0  # build dependencies not yet published (0 and needed: ready)
    rank: float = 0.0  # the remaining critical path from it, expected seconds


@dataclass(frozen=True)
class AttemptView:
    attempt: str
    cpv: str
    drone: str | None
    state: str
    outcome: str | None
    queue: str | None
    dispatched_at: float | None
    started_at: float | None
    finished_at: float | None
    published_at: float | None
    artifact: str | None
    sha256: str | None
    error: str | None
    failure_kind: str | None
    infrastructure: bool | None
    build_seconds: float | None


@dataclass(frozen=True)
class AttemptOwner:
    """Who may upload for an attempt, and whether it still runs."""

    attempt: str
    state: str
    drone: str | None
    queue: str
    session: str


@dataclass(frozen=True)
class QueuedPackage:
    session: str
    cpv: str
    state: str
    merge_index: int


@dataclass(frozen=True)
class EventView:
    ts: float
    kind: str
    subject: str | None
    message: str | None
    id: int = 0  # increasing: a live feed asks for the events after the last it showed


@dataclass(frozen=True)
class FindingView:
    kind: str
    message: str


@dataclass(frozen=True)
class ProbeView:
    """One row of a drone's health history (the fleet probe)."""

    at: float
    answered: bool | None
    reachable: bool | None
    error: str
    load: tuple[float, float, float] | None
    mem_total_mb: int | None
    mem_avail_mb: int | None
    build_free_mb: int | None
    pkgdir_free_mb: int | None
    tree: str
    manager: str
    emerges: int
    stuck: int
    findings: tuple[FindingView, ...]
    level: int
    tree_hold: str
    sync: str


@dataclass(frozen=True)
class DroneView:
    name: str
    arch: str
    state: str
    first_seen: float | None
    last_seen: float | None
    builds: int | None
    failures: int | None
    cores: int | None
    memory_mb: int | None
    disk_free_mb: int | None
    slots: int | None
    in_flight: int
    paused: bool | None
    grounded_until: float | None
    tree_timestamp: str
    gentoo_profile: str
    payload_version: str
    builder: str
    health: ProbeView | None = None
    profile: str = field(default="", metadata={"deprecated": "gentoo_profile"})
    payload_hash: str = ""  # the digest of the build-swarm code it runs (domain.payload)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", self.gentoo_profile)


@dataclass(frozen=True)
class TokenView:
    drone: str
    created_at: float


def as_json(view: object) -> Any:
    """A view (or a list of them) as the JSON the CLI prints and the API serves."""
    if isinstance(view, list | tuple):
        return [as_json(v) for v in view]
    return asdict(view)  # type: ignore[call-overload]


__all__ = ["AttemptOwner", "AttemptView", "DroneView", "EventView", "FindingView", "PackageView", "ProbeView", "QueuedPackage",
           "RunningBuild", "SessionStatus", "SessionView", "TokenView", "as_json"]
