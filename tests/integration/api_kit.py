"""A coordinator API on a real uvicorn server (loopback, free port) over a real SQLite record with a planned session.

The coordinator service runs in-process with the fake resolver and dispatcher of the
coordinator kit but the real :class:`BinhostPublisher`, reading the API's upload area.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from swarm_celery.api.app import create_api
from swarm_celery.api.context import ApiConfig, ApiContext
from swarm_celery.api.sql import ReadOnlySql
from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildRequest, DroneIdentity
from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.domain.uploads import UploadLimits
from swarm_celery.errors import ConfigError
from swarm_celery.resolve.build_config import BuildConfigFiles
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.services.generations import Generations
from swarm_celery.services.profiles import ProfileSync
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from swarm_celery.store.token_repo import DroneTokens
from tests.coordinator_kit import REQUEST, FakeClock, FakeDispatcher, FakeResolver, identity

ADMIN = "admin-secret-token"


@dataclass
class FakeMessenger:
    """Plans and hellos are recorded; controls run through the real Controller at once (as the coordinator would)."""

    controller: Controller | None = None
    plans: list[str] = field(default_factory=list)
    hellos: list[DroneIdentity] = field(default_factory=list)

    def send_plan(self, session_id: str) -> None:
        self.plans.append(session_id)

    def send_control(self, request: ControlRequest) -> None:
        assert self.controller is not None
        self.controller.apply(request)

    def hello(self, identity: DroneIdentity) -> None:
        self.hellos.append(identity)


@dataclass
class ApiWorld:
    url: str
    home: Path
    store: SqlStore
    coordinator: Coordinator
    dispatcher: FakeDispatcher
    messenger: FakeMessenger
    tokens: dict[str, str]
    assigned: list[tuple[BuildRequest, str]]  # the first placement: (request, drone)

    @property
    def queries(self) -> Queries:
        return Queries(self.store.engine)

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)

    def build(self, index: int = 0) -> tuple[BuildRequest, str]:
        """A dispatched build and the drone it went to."""
        return self.assigned[index]

    def gpkg(self, request: BuildRequest, cpv: str | None = None) -> Path:
        meta = BinpkgMetadata(cpv=cpv or request.cpv, slot=request.slot, repo=request.repo, arch="amd64", use=request.use,
                              chost="x86_64-pc-linux-gnu", build_time=1_700_000_000, build_id=1)
        folder = self.home / "drone-staging" / request.attempt_id
        folder.mkdir(parents=True, exist_ok=True)
        return write_gpkg(folder, meta, {"usr/bin/x": b"#!/bin/sh\n"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def profile_request(profile: BuildProfile) -> ResolveRequest:
    """A build profile's request as the API's syncer builds it (a user profile needs its machine's root)."""
    if profile.mode is Mode.USER and not Path(profile.machine_root).is_dir():
        raise ConfigError(f"profile {profile.name}: the machine root {profile.machine_root} does not exist")
    return ResolveRequest(repos=profile.repos, gentoo_profile=profile.gentoo_profile, arch=profile.arch, world=profile.world or ("app-misc/app",))


def make_request(atoms: tuple[str, ...], arch: str) -> ResolveRequest:
    if any(a.startswith("!") for a in atoms):
        raise ValueError(f"{atoms[0]!r} is not a valid atom")
    return ResolveRequest(repos=("/repo",), gentoo_profile=f"default/linux/{arch}/23.0/systemd", arch=arch, world=atoms)


@contextmanager
def api_world(home: Path, *, public_status: bool = False, limits: UploadLimits | None = None, database_url: str = "",
              sql_url: str = "") -> Iterator[ApiWorld]:
    url = database_url or f"sqlite:///{home / 'swarm.db'}"
    engine = make_engine(url)
    migrate(engine)
    clock = FakeClock()
    clock.t = time.time()
    store, dispatcher, messenger = SqlStore(engine, clock), FakeDispatcher(), FakeMessenger()
    publisher = BinhostPublisher(home / "binhost", home / "uploads")
    coordinator = Coordinator(store, FakeResolver(), dispatcher, publisher, prior=Durations({}), clock=clock)
    messenger.controller = Controller(store, dispatcher, coordinator.dispatcher, clock)
    for name in ("drone-1", "drone-2"):
        store.register_drone(identity(name, slots=1))
    store.create_session("5e5510", REQUEST, simulated=True)
    coordinator.plan("5e5510")
    assigned = [(request, queue.removeprefix("drone.")) for request, queue in dispatcher.sent]
    dispatcher.sent.clear()
    tokens = {name: DroneTokens(engine).issue(name) for name in ("drone-1", "drone-2")}
    config = ApiConfig(admin_token=ADMIN, public_status=public_status, uploads_dir=home / "uploads", logs_dir=home / "logs",
                       binhost_dir=home / "binhost", limits=limits or UploadLimits(), build_configs_dir=home / "build-configs")
    BuildConfigFiles(home / "build-configs").publish(REQUEST)  # what the dispatcher publishes for a real session
    sessions = SessionQueue(store, messenger, simulated=True)
    ctx = ApiContext(config=config, queries=Queries(engine), store=store, tokens=DroneTokens(engine), messenger=messenger,
                     make_request=make_request, sql=ReadOnlySql.for_urls(url, sql_url), version="test",
                     syncer=ProfileSync(store, profile_request, sessions), sessions=sessions,
                     generations=Generations(GenerationFiles(home / "binhost"), store, clock))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield ApiWorld(f"http://127.0.0.1:{port}", home, store, coordinator, dispatcher, messenger, tokens, assigned)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
