"""Domain vocabulary of build-swarm: package states, edge kinds, plans, attempts.

Pure standard library. Everything here is a frozen value object or an enum; the
store persists them, the services move them through their states, the CLI shows
them. Nothing in here knows about Celery, SQL or portage.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from swarm_celery.domain.names import (
    ARCH,
    ATTEMPT_ID,
    CONFIG_HASH,
    REPO,
    SESSION_ID,
    SHA256,
    SLOT,
    USE_FLAG,
    check,
    check_cpv,
    check_drone_name,
    finite,
    tail,
    text,
    whole,
)

LOG_TAIL_CHARS = 64 * 1024  # of a report's log tail, the end is kept (the failure classifier reads the end)
MAX_USE_FLAGS = 4096
MAX_RETRY = 1000  # earlier failures a build request may name


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


_OUTCOME = re.compile("|".join(o.value for o in Outcome))


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
    retry: int = 0  # drones that failed this package before (0: its first try)

    def to_json(self) -> dict[str, object]:
        return {
            "urgency": self.urgency,
            "config_hash": self.config_hash,
            "retry": self.retry,
            "attempt_id": self.attempt_id,
            "session_id": self.session_id,
            "cpv": self.cpv,
            "arch": self.arch,
            "slot": self.slot,
            "repo": self.repo,
            "use": list(self.use),
        }

    @classmethod
    def from_json(cls, data: object) -> BuildRequest:
        """What the coordinator sent, checked field by field (ValueError naming the first wrong one): every name
        here becomes part of a path or a command line on the drone."""
        fields = _object(data, "build request")
        cpv = check_cpv(fields.get("cpv"))
        use = fields.get("use", [])
        if not isinstance(use, list) or len(use) > MAX_USE_FLAGS:
            raise ValueError(f"use is not a list of at most {MAX_USE_FLAGS} flags")
        return cls(
            attempt_id=check(ATTEMPT_ID, fields.get("attempt_id"), "attempt id"),
            session_id=check(SESSION_ID, fields.get("session_id"), "session id"),
            cpv=cpv,
            arch=check(ARCH, fields.get("arch"), "arch"),
            slot=check(SLOT, fields.get("slot"), "slot"),
            repo=check(REPO, fields.get("repo"), "repository"),
            use=tuple(check(USE_FLAG, flag, "USE flag") for flag in use),
            urgency=whole(fields.get("urgency", 5), "urgency", 0, 9),
            config_hash=_config_hash(fields.get("config_hash", "")),
            retry=whole(fields.get("retry", 0), "retry", 0, MAX_RETRY),
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
    def from_json(cls, data: object) -> BuildResult:
        """A drone's report, checked field by field (ValueError naming the first wrong one); a long log is cut to its end."""
        fields = _object(data, "build result")
        exit_code = fields.get("exit_code")
        sha256 = fields.get("sha256") or ""
        return cls(
            attempt_id=check(ATTEMPT_ID, fields.get("attempt_id"), "attempt id"),
            drone=check_drone_name(fields.get("drone")),
            outcome=Outcome(check(_OUTCOME, fields.get("outcome"), "outcome")),
            artifact_path=text(fields.get("artifact_path"), "artifact path", 4096),
            sha256=check(SHA256, sha256, "sha256") if sha256 else "",
            size=whole(fields.get("size", 0), "size"),
            log_tail=tail(fields.get("log_tail"), "log tail", LOG_TAIL_CHARS),
            started_at=finite(fields.get("started_at", 0.0), "started_at"),
            finished_at=finite(fields.get("finished_at", 0.0), "finished_at"),
            simulated=fields.get("simulated", False) is True,
            build_seconds=finite(fields.get("build_seconds", 0.0), "build_seconds"),
            exit_code=whole(exit_code, "exit code", -255, 65535) if exit_code is not None else None,
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
    payload_hash: str = ""  # the digest of the build-swarm code it runs (domain.payload): what a deploy waits for

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "arch": self.arch, "cores": self.cores, "memory_mb": self.memory_mb,
                "disk_free_mb": self.disk_free_mb, "slots": self.slots, "paused": self.paused, "tree_timestamp": self.tree_timestamp,
                "gentoo_profile": self.gentoo_profile, "profile": self.gentoo_profile, "payload_version": self.payload_version, "builder": self.builder,
                "running": list(self.running), "payload_hash": self.payload_hash}

    @classmethod
    def from_json(cls, data: object) -> DroneIdentity:
        """A drone's hello, checked (ValueError naming the first wrong field); what it says about itself is cut to size."""
        fields = _object(data, "drone identity")
        return cls(check_drone_name(fields.get("name")), check(ARCH, fields.get("arch"), "arch"),
                   whole(fields.get("cores", 0), "cores", 0, 100_000), whole(fields.get("memory_mb", 0), "memory_mb"),
                   whole(fields.get("disk_free_mb", 0), "disk_free_mb"), whole(fields.get("slots", 1), "slots", 1, 256),
                   fields.get("paused", False) is True, _short(fields.get("tree_timestamp"), 64),
                   _short(fields.get("gentoo_profile", fields.get("profile")), 255), _short(fields.get("payload_version"), 32),
                   _short(fields.get("builder"), 16), _ids(fields.get("running")), _digest(fields.get("payload_hash")))


def _config_hash(value: object) -> str:
    """The plan's configuration hash a build request carries: "" (a simulated session) or 16 to 64 hex digits."""
    return "" if value == "" else check(CONFIG_HASH, value, "configuration hash")


def _object(data: object, what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ValueError(f"the {what} is not a JSON object")
    return data


def _digest(value: object) -> str:
    """A sha256 in hex (the payload digest a drone announces), else "" (a drone's text is not trusted)."""
    return value if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value) else ""


def _ids(value: object) -> tuple[str, ...]:
    """Attempt ids a drone reports (at most 1,024 of the attempt id shape; anything else is dropped)."""
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value[:1024] if isinstance(v, str) and ATTEMPT_ID.fullmatch(v))


def _short(value: object, limit: int) -> str:
    """An optional announced string, cut to what the record holds, printable only (a drone's text is not trusted)."""
    shown = str(value) if isinstance(value, str | int | float) else ""
    return "".join(c for c in shown[:limit] if c.isprintable())


def build_queue(arch: str) -> str:
    """The per-arch queue every drone of that arch consumes."""
    return f"build.{arch}"


def drone_queue(name: str) -> str:
    """The per-drone queue for targeted retries."""
    return f"drone.{name}"


def drone_node(name: str) -> str:
    """A drone worker's Celery node name before ``@host``: ``drone.<name>``. The role is in the name, so no drone
    (whatever it is called, e.g. after its host) shares a node name with the coordinator's ``coordinator@host``."""
    return f"{DRONE_NODE_PREFIX}{name}"


def drone_of_node(node: str) -> str | None:
    """The drone a worker node name (``drone.<name>@host``) belongs to; None for any other worker."""
    name = node.split("@", 1)[0]
    return name.removeprefix(DRONE_NODE_PREFIX) if name.startswith(DRONE_NODE_PREFIX) and "@" in node else None


def drone_queues(name: str, arch: str) -> tuple[str, ...]:
    """Every queue a drone's worker consumes (what grounding cancels)."""
    return (build_queue(arch), drone_queue(name)) if arch else (drone_queue(name),)


COORDINATOR_QUEUE = "coordinator"
COORDINATOR_NODE = "coordinator"  # the coordinator worker's node name is coordinator@<host>
DRONE_NODE_PREFIX = "drone."
PERIODIC_QUEUE = "periodic"  # beat's jobs; the coordinator worker consumes it too (the one writer)
