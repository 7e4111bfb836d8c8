"""Test kit for the Coordinator service: fake resolver/dispatcher/publisher ports, a tiny plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildRequest, BuildResult, DroneIdentity, Outcome, Plan, PlannedPackage
from swarm_celery.domain.records import PackageInfo, PublishedArtifact
from swarm_celery.errors import ArtifactError, ResolveError
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore

REQUEST = ResolveRequest(repos=("/repo",), gentoo_profile="default/linux/amd64/23.0/systemd", arch="amd64", world=("app-misc/app",))


def pkg(cpv: str, build: tuple[str, ...] = (), run: tuple[str, ...] = ()) -> PlannedPackage:
    return PlannedPackage(cpv, "0", "0", "gentoo", ("ssl",), build, run)


# base <- lib (build) ; app needs lib (build) and lib needs rt (run) ; tool independent
PLAN = Plan(
    packages=(pkg("sys-libs/base-1"), pkg("sys-libs/rt-1"), pkg("dev-libs/lib-1", build=("sys-libs/base-1",), run=("sys-libs/rt-1",)),
              pkg("app-misc/app-1", build=("dev-libs/lib-1",)), pkg("app-misc/tool-1")),
    merge_order=("sys-libs/base-1", "sys-libs/rt-1", "dev-libs/lib-1", "app-misc/app-1", "app-misc/tool-1"),
)


@dataclass
class FakeResolver:
    plan: Plan = PLAN
    error: ResolveError | None = None
    calls: int = 0

    def resolve(self, request: ResolveRequest, allow_missing: bool = False) -> Plan:
        self.calls += 1
        if self.error:
            raise self.error
        return self.plan


@dataclass
class FakeDispatcher:
    sent: list[tuple[BuildRequest, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    wakes: list[tuple[str, float]] = field(default_factory=list)
    consuming: dict[str, set[str]] = field(default_factory=dict)  # drone → queues it consumes (None: never told)
    drones: dict[str, str] = field(default_factory=dict)  # attempt id → the drone it was sent to

    def drone(self, request: BuildRequest) -> str:
        """The drone an attempt was sent to: only its reports count."""
        return self.drones[request.attempt_id]

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None:
        self.sent.extend(builds)
        self.drones.update({request.attempt_id: queue.removeprefix("drone.") for request, queue in builds})

    def revoke(self, attempt_ids: Sequence[str], terminate: bool = True) -> None:
        self.revoked.extend(attempt_ids)

    def wake(self, arch: str, after_seconds: float) -> None:
        self.wakes.append((arch, after_seconds))

    def stop_consuming(self, drone: str, queues: Sequence[str]) -> None:
        self.consuming.setdefault(drone, set(queues)).difference_update(queues)

    def start_consuming(self, drone: str, queues: Sequence[str]) -> None:
        self.consuming.setdefault(drone, set()).update(queues)

    def take(self) -> list[BuildRequest]:
        out = [r for r, _ in self.sent]
        self.sent.clear()
        return out


@dataclass
class FakePublisher:
    published: list[str] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)

    batches: list[int] = field(default_factory=list)  # items per publish_many call
    pruned: set[str] = field(default_factory=set)  # paths the staging tree no longer holds (a budget pruned them)
    numbered: bool = False  # each build of a CPV gets the next BUILD_ID (else every build is <cpv>-1.gpkg.tar)

    def holds(self, arch: str, path: str) -> bool:
        return bool(path) and path not in self.pruned

    def publish(self, arch: str, artifact: Path, sha256: str, package: PackageInfo) -> PublishedArtifact:
        if package.cpv in self.reject:
            raise ArtifactError(f"sha256 mismatch for {package.cpv}")
        self.published.append(package.cpv)
        path = f"{package.cpv}-{self.published.count(package.cpv) if self.numbered else 1}.gpkg.tar"
        self.pruned.discard(path)
        return PublishedArtifact(path, sha256, 10)

    def publish_many(self, arch: str, items: Sequence[tuple[Path, str, PackageInfo]],
                     simulated_ok: bool = False) -> list[PublishedArtifact | ArtifactError]:
        self.batches.append(len(items))
        outcomes: list[PublishedArtifact | ArtifactError] = []
        for artifact, sha256, package in items:
            try:
                outcomes.append(self.publish(arch, artifact, sha256, package))
            except ArtifactError as exc:
                outcomes.append(exc)
        return outcomes


@dataclass
class FakeClock:
    t: float = 1000.0

    def now(self) -> float:
        return self.t


def identity(name: str, slots: int = 8, arch: str = "amd64") -> DroneIdentity:
    return DroneIdentity(name, arch, cores=slots * 4, memory_mb=16000, disk_free_mb=50000, slots=slots)


def success(request: BuildRequest, drone: str = "drone-1") -> BuildResult:
    return BuildResult(request.attempt_id, drone, Outcome.SUCCESS, "/staging/x.gpkg.tar", "0" * 64, 10, "ok", 1.0, 2.0, True)


def failure(request: BuildRequest, drone: str = "drone-1") -> BuildResult:
    tail = f"ERROR: {request.cpv}::gentoo failed (compile phase):\n  make failed"
    return BuildResult(request.attempt_id, drone, Outcome.FAILED, log_tail=tail, started_at=1.0, finished_at=2.0)




@dataclass
class World:
    coordinator: Coordinator
    store: SqlStore
    dispatcher: FakeDispatcher
    publisher: FakePublisher
    resolver: FakeResolver
    clock: FakeClock

    def reconfigure(self, **changes: object) -> None:
        """The coordinator again, with these scheduler settings (SchedulerConfig fields)."""
        config = replace(self.coordinator.config, **changes)  # type: ignore[arg-type]
        self.coordinator = Coordinator(self.store, self.resolver, self.dispatcher, self.publisher, prior=Durations({}), clock=self.clock,
                                       config=config)


def make_world(tmp_path: Path) -> World:
    engine = make_engine(f"sqlite:///{tmp_path / 'swarm.db'}")
    migrate(engine)
    clock = FakeClock()
    store = SqlStore(engine, clock)
    resolver, dispatcher, publisher = FakeResolver(), FakeDispatcher(), FakePublisher()
    store.create_session("s1", REQUEST, simulated=True)
    coordinator = Coordinator(store, resolver, dispatcher, publisher, prior=Durations({}), clock=clock)
    store.register_drone(identity("drone-1"))
    return World(coordinator, store, dispatcher, publisher, resolver, clock)


def states(store: SqlStore) -> dict[str, str]:
    return {p.cpv: p.state for p in Queries(store.engine).packages("s1")}
