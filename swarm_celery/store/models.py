"""SQLAlchemy models: the record of every session, package, edge, attempt, drone and event.

The database is the record; Redis is only transport (DESIGN.md, decision 1).
Schema changes go through Alembic (``store/migrations``); the models here and the
migrations must agree (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    arch: Mapped[str] = mapped_column(String(32))
    gentoo_profile: Mapped[str] = mapped_column(String(255))
    request_json: Mapped[str] = mapped_column(Text)
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    simulated: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    planned_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    build_profile: Mapped[str] = mapped_column(String(64), default="", server_default="")  # "" when not from a profile
    reuse: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # unchanged packages are not rebuilt


class PackageRow(Base):
    __tablename__ = "packages"
    __table_args__ = (
        UniqueConstraint("session_id", "cpv", name="uq_packages_session_cpv"),
        Index("ix_packages_session_state_pending", "session_id", "state", "pending"),  # ready packages; counts per state
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    cpv: Mapped[str] = mapped_column(String(255))
    slot: Mapped[str] = mapped_column(String(64))
    sub_slot: Mapped[str] = mapped_column(String(64))
    repo: Mapped[str] = mapped_column(String(128))
    use: Mapped[str] = mapped_column(Text, default="")
    merge_index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    current_attempt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    pending: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # gates not yet published
    expected: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # expected build seconds
    rank: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # remaining critical path, seconds
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # operator bump
    not_before: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # retry backoff
    identity: Mapped[str] = mapped_column(String(64), default="", server_default="")  # binary-package identity
    slot_deps: Mapped[str] = mapped_column(Text, default="", server_default="")  # its ``:=`` bindings, space-separated
    change: Mapped[str] = mapped_column(Text, default="", server_default="")  # why a profile's session builds it (or not)


class EdgeRow(Base):
    """A typed dependency as portage reported it; ``dropped`` edges are cycle breaks.

    Edges and gates carry no foreign keys: they are written once, in bulk, in the transaction that inserts the
    packages they join (a check per row cost more than the rest of saving a plan), and nothing deletes packages.
    """

    __tablename__ = "edges"
    __table_args__ = (Index("ix_edges_parent", "parent_id"), Index("ix_edges_child", "child_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[int] = mapped_column(Integer)
    child_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    dropped: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")


class GateRow(Base):
    """``package`` may be dispatched only once ``requires`` is published (domain.graph.dispatch_gates)."""

    __tablename__ = "gates"
    __table_args__ = (Index("ix_gates_requires", "requires_id"),)

    package_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # packages.id (no foreign key: see EdgeRow)
    requires_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class AttemptRow(Base):
    """One dispatch of one package; its id is the fencing token a completion must name."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_state_drone", "state", "drone"),  # builds in flight per drone, on every dispatch
        Index("ix_attempts_drone_outcome_finished", "drone", "outcome", "finished_at"),  # a drone's latest successes (its speed)
        Index("ix_attempts_outcome_finished", "outcome", "finished_at"),  # the swarm's latest successes (its pace)
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(128))
    drone: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dispatched_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    published_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    artifact: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    log_tail: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    expected: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # expected seconds at dispatch
    build_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # as the drone measured it
    failure_kind: Mapped[str] = mapped_column(String(16), default="", server_default="")
    infrastructure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # clear_failures forgets it
    beat_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # the drone's last heartbeat naming this build (its lease)


class DroneRow(Base):
    __tablename__ = "drones"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    arch: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="online")
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    builds: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    cores: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    memory_mb: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disk_free_mb: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    slots: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    grounded_until: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    tree_timestamp: Mapped[str] = mapped_column(String(64), default="", server_default="")  # metadata/timestamp.chk of its tree
    gentoo_profile: Mapped[str] = mapped_column(String(255), default="", server_default="")  # its Gentoo profile
    payload_version: Mapped[str] = mapped_column(String(32), default="", server_default="")  # the build-swarm version it runs
    builder: Mapped[str] = mapped_column(String(16), default="", server_default="")  # emerge | simulate
    payload_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the digest of the code it runs


class FlagRow(Base):
    """Swarm-wide switches set by controls (``paused``)."""

    __tablename__ = "flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class BuildHistoryRow(Base):
    """A build a machine did outside the swarm (``build-swarm history import emerge.log``): a weight for the scheduler."""

    __tablename__ = "build_history"
    __table_args__ = (UniqueConstraint("cpv", "finished_at", "source", name="uq_build_history"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cpv: Mapped[str] = mapped_column(String(255))
    package: Mapped[str] = mapped_column(String(255), index=True)  # category/package, what the weights are keyed by
    seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(255))  # where it came from: the imported file's name


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(Text, default="")


class DroneTokenRow(Base):
    """A drone's API token for uploads and heartbeats: only its sha256 is stored; issuing again replaces it."""

    __tablename__ = "drone_tokens"

    drone: Mapped[str] = mapped_column(String(128), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class ProbeRow(Base):
    """One drone's result of one fleet probe round (``swarm.probe_fleet``): its health history."""

    __tablename__ = "drone_probes"
    __table_args__ = (Index("ix_drone_probes_drone_ts", "drone", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    drone: Mapped[str] = mapped_column(String(128))
    ts: Mapped[float] = mapped_column(Float)
    answered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # Celery ping (None: not asked)
    reachable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # SSH (None: not in the inventory)
    error: Mapped[str] = mapped_column(Text, default="")
    load1: Mapped[float | None] = mapped_column(Float, nullable=True)
    load5: Mapped[float | None] = mapped_column(Float, nullable=True)
    load15: Mapped[float | None] = mapped_column(Float, nullable=True)
    mem_total_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mem_avail_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    build_free_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pkgdir_free_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tree: Mapped[str] = mapped_column(String(64), default="")  # metadata/timestamp.chk of its tree
    manager: Mapped[str] = mapped_column(String(16), default="")  # openrc | systemd | none
    emerges: Mapped[int] = mapped_column(Integer, default=0)  # emerge processes running
    stuck: Mapped[int] = mapped_column(Integer, default=0)  # ... of which older than the longest expected build
    findings: Mapped[str] = mapped_column(Text, default="")  # JSON list of {kind, message}
    level: Mapped[int] = mapped_column(Integer, default=0)  # its healing level after this round
    sync: Mapped[str] = mapped_column(String(16), default="", server_default="")  # its last tree sync: running | exit N | ""


class HealthRow(Base):
    """A drone's place on the healing ladder and its stale-tree hold (no work while ``tree_hold`` is set)."""

    __tablename__ = "drone_health"

    drone: Mapped[str] = mapped_column(String(128), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    acted_at: Mapped[float] = mapped_column(Float, default=0.0)
    silent_since: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[str] = mapped_column(Text, default="")  # comma-separated kinds found by the last probe
    tree_hold: Mapped[str] = mapped_column(Text, default="")  # why it gets no work ("" = none)
    sync_asked_at: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # when it was last told to sync its tree (0: never / current)


class ProfileRow(Base):
    """A build profile (domain.profiles.BuildProfile as JSON in ``body``; mode, arch and auto_rebuild to query by)."""

    __tablename__ = "build_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    arch: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    auto_rebuild: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class SnapshotRow(Base):
    """A compressed snapshot of a portage tree, taken when the tree changed (``swarm.check_tree``)."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_tree_taken", "tree", "taken_at"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the start of the tarball's sha256
    taken_at: Mapped[float] = mapped_column(Float)
    tree: Mapped[str] = mapped_column(Text)  # the repository's path
    fingerprint: Mapped[str] = mapped_column(String(64))  # of timestamp.chk and the md5-cache (domain.snapshots)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
