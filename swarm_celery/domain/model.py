"""Domain vocabulary of build-swarm: package states, edge kinds, plans, attempts.

Pure standard library. Everything here is a frozen value object or an enum; the
store persists them, the services move them through their states, the CLI shows
them. Nothing in here knows about Celery, SQL or portage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class PackageState(enum.StrEnum):
    """Life of one planned package inside a session (DESIGN.md, "Package states")."""

    NEEDED = "needed"
    READY = "ready"
    DISPATCHED = "dispatched"
    BUILDING = "building"
    BUILT = "built"
    PUBLISHED = "published"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        PackageState.PUBLISHED,
        PackageState.FAILED,
        PackageState.BLOCKED,
        PackageState.SKIPPED,
        PackageState.CANCELLED,
    }
)

IN_FLIGHT_STATES = frozenset({PackageState.DISPATCHED, PackageState.BUILDING, PackageState.BUILT})


class SessionState(enum.StrEnum):
    PLANNING = "planning"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EdgeKind(enum.StrEnum):
    """Typed dependency edges as portage's depgraph reports them."""

    BUILD = "build"  # DEPEND + BDEPEND
    RUN = "run"  # RDEPEND
    POST = "post"  # PDEPEND
    INSTALL = "install"  # IDEPEND


class AttemptState(enum.StrEnum):
    DISPATCHED = "dispatched"
    STARTED = "started"
    FINISHED = "finished"
    STALE = "stale"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the task was revoked on the drone and the build stopped: neither the package's nor the drone's fault


@dataclass(frozen=True, slots=True)
class PlannedPackage:
    """One node of a resolved plan: exactly what portage chose to merge."""

    cpv: str
    slot: str
    sub_slot: str
    repo: str
    use: tuple[str, ...]
    build_deps: tuple[str, ...] = ()
    run_deps: tuple[str, ...] = ()
    post_deps: tuple[str, ...] = ()
    install_deps: tuple[str, ...] = ()
    slot_deps: tuple[str, ...] = ()  # what its ``:=`` deps bind to, sorted ``cat/pkg:slot/subslot`` (domain.identity)
    identity: str = ""  # its binary-package identity (domain.identity.package_identity); "" in plans made before identities

    @property
    def category(self) -> str:
        return self.cpv.split("/", 1)[0]

    @property
    def pf(self) -> str:
        return self.cpv.split("/", 1)[1]

    def deps(self, kind: EdgeKind) -> tuple[str, ...]:
        return {
            EdgeKind.BUILD: self.build_deps,
            EdgeKind.RUN: self.run_deps,
            EdgeKind.POST: self.post_deps,
            EdgeKind.INSTALL: self.install_deps,
        }[kind]


@dataclass(frozen=True, slots=True)
class DroppedEdge:
    """An edge portage's merge order contradicts: a cycle break, kept for the record."""

    parent: str
    child: str
    kind: EdgeKind
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """A resolved @world: packages in portage's merge order plus the edges dropped to make it a DAG."""

    packages: tuple[PlannedPackage, ...]
    merge_order: tuple[str, ...]
    dropped_edges: tuple[DroppedEdge, ...] = ()
    baseline: tuple[str, ...] = ()
    config_hash: str = ""
    arch: str = ""  # what the identities were computed for ("" in plans made before identities)
    gentoo_profile: str = ""

    def by_cpv(self) -> dict[str, PlannedPackage]:
        return {p.cpv: p for p in self.packages}


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """What the coordinator sends a drone: small, JSON-able, names its attempt (the fencing token)."""

    attempt_id: str
    session_id: str
    cpv: str
    arch: str
    slot: str
    repo: str
    use: tuple[str, ...]
    urgency: int = 5  # 0 (on the critical path) … 9: the broker priority of this build's reports to the coordinator
    config_hash: str = ""  # the plan's portage configuration (domain.build_config); "" for simulated sessions

    def to_json(self) -> dict[str, object]:
        return {
            "urgency": self.urgency,
            "config_hash": self.config_hash,
            "attempt_id": self.attempt_id,
            "session_id": self.session_id,
            "cpv": self.cpv,
            "arch": self.arch,
            "slot": self.slot,
            "repo": self.repo,
            "use": list(self.use),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BuildRequest:
        use = data.get("use", [])
        return cls(
            attempt_id=str(data["attempt_id"]),
            session_id=str(data["session_id"]),
            cpv=str(data["cpv"]),
            arch=str(data["arch"]),
            slot=str(data["slot"]),
            repo=str(data["repo"]),
            use=tuple(str(u) for u in use) if isinstance(use, list) else (),
            urgency=min(9, max(0, _as_int(data.get("urgency", 5)))),
            config_hash=_short(data.get("config_hash"), 64),  # checked by the drone that uses it (domain.build_config)
        )


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a drone reports back for one attempt."""

    attempt_id: str
    drone: str
    outcome: Outcome
    artifact_path: str = ""
    sha256: str = ""
    size: int = 0
    log_tail: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    simulated: bool = False
    build_seconds: float = 0.0  # how long the build took as the drone measures it (simulated: the simulated time)
    exit_code: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "attempt_id": self.attempt_id,
            "drone": self.drone,
            "outcome": self.outcome.value,
            "artifact_path": self.artifact_path,
            "sha256": self.sha256,
            "size": self.size,
            "log_tail": self.log_tail,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "simulated": self.simulated,
            "build_seconds": self.build_seconds,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BuildResult:
        exit_code = data.get("exit_code")
        return cls(
            attempt_id=str(data["attempt_id"]),
            drone=str(data["drone"]),
            outcome=Outcome(str(data["outcome"])),
            artifact_path=str(data.get("artifact_path", "")),
            sha256=str(data.get("sha256", "")),
            size=_as_int(data.get("size", 0)),
            log_tail=str(data.get("log_tail", "")),
            started_at=_as_float(data.get("started_at", 0.0)),
            finished_at=_as_float(data.get("finished_at", 0.0)),
            simulated=bool(data.get("simulated", False)),
            build_seconds=_as_float(data.get("build_seconds", 0.0)),
            exit_code=_as_int(exit_code) if exit_code is not None else None,
        )


@dataclass(frozen=True, slots=True)
class DroneIdentity:
    """What a drone announces when it starts (and refreshes on each heartbeat)."""

    name: str
    arch: str
    cores: int
    memory_mb: int
    disk_free_mb: int
    slots: int
    paused: bool = False  # started paused (a NAS that yields to its owner)
    tree_timestamp: str = ""  # the first line of its portage tree's metadata/timestamp.chk ("" when unknown)
    gentoo_profile: str = ""  # its Gentoo profile, e.g. default/linux/amd64/23.0/systemd ("" when unknown)
    payload_version: str = ""  # the build-swarm version the drone runs
    builder: str = ""  # emerge | simulate
    running: tuple[str, ...] = ()  # attempt ids its worker is running now: each heartbeat renews their leases

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "arch": self.arch, "cores": self.cores, "memory_mb": self.memory_mb,
                "disk_free_mb": self.disk_free_mb, "slots": self.slots, "paused": self.paused, "tree_timestamp": self.tree_timestamp,
                "gentoo_profile": self.gentoo_profile, "profile": self.gentoo_profile, "payload_version": self.payload_version, "builder": self.builder,
                "running": list(self.running)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DroneIdentity:
        slots = _as_int(data.get("slots", 1))
        if slots < 1:
            raise ValueError(f"a drone needs at least one slot, not {slots}")
        return cls(str(data["name"]), str(data["arch"]), _as_int(data.get("cores", 0)), _as_int(data.get("memory_mb", 0)),
                   _as_int(data.get("disk_free_mb", 0)), slots, bool(data.get("paused", False)),
                   _short(data.get("tree_timestamp"), 64), _short(data.get("gentoo_profile", data.get("profile")), 255), _short(data.get("payload_version"), 32),
                   _short(data.get("builder"), 16), _ids(data.get("running")))


def _ids(value: object) -> tuple[str, ...]:
    """Attempt ids a drone reports (at most 1,024, each at most 64 characters; anything else dropped)."""
    if not isinstance(value, list):
        return ()
    return tuple(str(v)[:64] for v in value[:1024] if isinstance(v, str))


def _short(value: object, limit: int) -> str:
    """An optional announced string, cut to what the record holds (a drone's text is not trusted to be short)."""
    return str(value)[:limit] if isinstance(value, (str, int, float)) else ""


def _as_int(value: object) -> int:
    return int(value) if isinstance(value, (int, float, str)) else 0


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, (int, float, str)) else 0.0


def build_queue(arch: str) -> str:
    """The per-arch queue every drone of that arch consumes."""
    return f"build.{arch}"


def drone_queue(name: str) -> str:
    """The per-drone queue for targeted retries."""
    return f"drone.{name}"


def drone_queues(name: str, arch: str) -> tuple[str, ...]:
    """Every queue a drone's worker consumes (what grounding cancels)."""
    return (build_queue(arch), drone_queue(name)) if arch else (drone_queue(name),)


COORDINATOR_QUEUE = "coordinator"
PERIODIC_QUEUE = "periodic"  # beat's jobs; the coordinator worker consumes it too (the one writer)
