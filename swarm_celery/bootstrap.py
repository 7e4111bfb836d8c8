"""Composition root: Settings → concrete adapters → services, and the Celery app for each role.

The only module that knows which adapter implements which port. Entry points (the
CLI, worker launchers) call it with a :class:`Settings`; tests call it with theirs.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from celery import Celery
from fastapi import FastAPI
from sqlalchemy import Engine

from swarm_celery.api.app import create_api
from swarm_celery.api.context import ApiConfig, ApiContext, RequestMaker
from swarm_celery.api.sql import ReadOnlySql
from swarm_celery.app import create_app
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.binhost.signing import GpgSigner
from swarm_celery.clock import SystemClock
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.durations import Durations, parse_durations
from swarm_celery.domain.emerge_cmd import EmergeConfig
from swarm_celery.domain.fleet import DroneHost, ProbeLimits, parse_hosts
from swarm_celery.domain.healing import HealingPolicy
from swarm_celery.domain.model import PERIODIC_QUEUE, DroneIdentity
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.domain.scheduling import RetryPolicy
from swarm_celery.drone.builders import Builder, SimulateBuilder
from swarm_celery.drone.emerge import EmergeBuilder
from swarm_celery.drone.identity import Capacity, collect_identity, payload_version, tree_timestamp
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.drone.upload import HttpUploader
from swarm_celery.errors import ConfigError
from swarm_celery.fleet.machine import SshMachineFiles
from swarm_celery.fleet.ssh import FabricShell
from swarm_celery.fleet.webhook import WebhookAlerter
from swarm_celery.ports import RequestBuilder
from swarm_celery.resolve.adapter import PortageResolver
from swarm_celery.resolve.inputs import request_for_profile
from swarm_celery.resolve.snapshot import TreeSnapshots
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.services.explain import Explainer
from swarm_celery.services.fleet import FleetConfig, FleetDoctor
from swarm_celery.services.profiles import ProfileSync, TreeWatcher
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.settings import Settings
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from swarm_celery.store.token_repo import DroneTokens
from swarm_celery.tasks import coordinator as coordinator_tasks
from swarm_celery.tasks import drone as drone_tasks
from swarm_celery.tasks import fleet as fleet_tasks
from swarm_celery.tasks import tree as tree_tasks
from swarm_celery.tasks.census import RedisCensus
from swarm_celery.tasks.messaging import CeleryBroker, CeleryMessenger, CeleryReporter

SHIPPED_DURATIONS = Path(__file__).parent / "data" / "build-durations.csv"


def celery_app(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ConfigError("no broker: set SWARM_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    return create_app(settings.broker_url, settings.visibility_timeout, settings.home / "broker")


def engine(settings: Settings, upgrade: bool = True) -> Engine:
    eng = make_engine(settings.database)
    if upgrade:
        migrate(eng)
    return eng


def store(settings: Settings, upgrade: bool = True) -> SqlStore:
    return SqlStore(engine(settings, upgrade), SystemClock())


def resolver(settings: Settings) -> PortageResolver:
    return PortageResolver(settings.cache_dir)


def scheduler_config(settings: Settings) -> SchedulerConfig:
    retry = RetryPolicy(tries=settings.retry_tries, backoff=settings.retry_backoff, factor=settings.retry_factor)
    return SchedulerConfig(retry=retry, offline_after=settings.offline_after, breaker_failures=settings.breaker_failures,
                           breaker_window=settings.breaker_window, ground_for=settings.ground_for, lookahead=settings.lookahead,
                           lease=settings.lease)


def coordinator(settings: Settings, app: Celery) -> Coordinator:
    return coordinator_services(settings, app)[0]


def coordinator_services(settings: Settings, app: Celery) -> tuple[Coordinator, Controller]:
    """The coordinator and the controls, sharing one store, dispatcher and scheduler (one writer)."""
    the_store, broker, clock = store(settings), CeleryBroker(app), SystemClock()
    coord = Coordinator(the_store, resolver(settings), broker, BinhostPublisher(settings.binhost_dir, uploads_dir(settings), signer(settings)),
                        prior=durations(settings), clock=clock, config=scheduler_config(settings), census=RedisCensus(app))
    return coord, Controller(the_store, broker, coord.dispatcher, clock)


def durations(settings: Settings) -> Durations:
    path = Path(settings.durations_csv) if settings.durations_csv else SHIPPED_DURATIONS
    try:
        return Durations(parse_durations(path.read_text()))
    except OSError as exc:
        raise ConfigError(f"cannot read the durations CSV {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"durations CSV {path}: {exc}") from None


def builder(settings: Settings) -> Builder:
    if settings.builder == "simulate":
        return SimulateBuilder(durations(settings), settings.time_scale, frozenset(settings.simulate_fail), settings.simulate_speed)
    if settings.builder == "emerge":
        return emerge_builder(settings)
    raise ConfigError(f"unknown builder {settings.builder!r}: set SWARM_BUILDER to simulate or emerge")


def emerge_builder(settings: Settings) -> EmergeBuilder:
    emerge = shutil.which(settings.emerge)
    if emerge is None:
        raise ConfigError(f"{settings.emerge!r} is not an executable on PATH: the emerge builder runs on a Gentoo host "
                          "(set SWARM_EMERGE, or SWARM_BUILDER=simulate)")
    me = drone_identity(settings)
    cores = min(me.cores, settings.core_limit or me.cores)
    try:
        config = EmergeConfig(settings.binhost_url, str(settings.pkgdir), cores, me.slots)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return EmergeBuilder(config, settings.logs_dir / "builds", timeout=settings.build_timeout, min_free_mb=settings.min_free_mb,
                         tmpdir=settings.portage_tmpdir, emerge=emerge, run_dir=settings.run_dir)


def coordinator_app(settings: Settings) -> Celery:
    """The app a coordinator worker runs: coordinator tasks, services built lazily in the worker process."""
    app = celery_app(settings)
    signer(settings)  # a configured signing key that is not there stops the worker before it takes work
    services = functools.cache(lambda: coordinator_services(settings, app))
    coordinator_tasks.register(app, lambda: services()[0], lambda: services()[1])
    tree_tasks.register(app, functools.cache(lambda: tree_watcher(settings, app)))
    inventory(settings)  # a malformed fleet inventory stops the worker before it takes work
    fleet_tasks.register(app, functools.cache(lambda: fleet_doctor(settings, app)))
    return app


def beat_app(settings: Settings) -> Celery:
    """The app `build-swarm beat` runs: only the schedule; every job is a task on the periodic queue."""
    app = celery_app(settings)
    every = settings.reclaim_every
    app.conf.beat_schedule = {
        "reclaim": {"task": "swarm.reclaim", "schedule": every, "options": {"queue": PERIODIC_QUEUE, "expires": every}},
        "breaker": {"task": "swarm.breaker", "schedule": every, "options": {"queue": PERIODIC_QUEUE, "expires": every}},
        "check_tree": {"task": "swarm.check_tree", "schedule": settings.tree_check_every,
                       "options": {"queue": PERIODIC_QUEUE, "expires": settings.tree_check_every}},
        "probe_fleet": {"task": "swarm.probe_fleet", "schedule": settings.probe_every,
                        "options": {"queue": PERIODIC_QUEUE, "expires": settings.probe_every}},
    }
    return app


def session_queue(settings: Settings, app: Celery | None = None) -> SessionQueue:
    """Queueing sessions; without ``app`` (the CLI) the broker is reached only when a session is sent."""
    plans = CeleryMessenger(app) if app is not None else _PlansLater(settings)
    return SessionQueue(store(settings), plans, simulated=settings.builder == "simulate")


def profile_sync(settings: Settings, app: Celery | None = None) -> ProfileSync:
    """Without ``app`` (the CLI), the broker is reached only when a session is sent: a refused sync needs none."""
    return ProfileSync(store(settings), profile_requests(settings), session_queue(settings, app))


def profile_requests(settings: Settings) -> RequestBuilder:
    """A build profile's resolve request now; a user profile's machine is read over SSH when it names a host of
    SWARM_FLEET_FILE (the inventory is read only then, so a local profile needs none)."""
    def build(profile: BuildProfile) -> ResolveRequest:
        if not profile.machine_host:
            return request_for_profile(profile)
        drones, machines = hosts(settings)
        reader = SshMachineFiles(FabricShell(settings.ssh_timeout), {**drones, **machines},
                                 str(settings.fleet_file or ""), timeout=max(30.0, settings.ssh_timeout))
        return request_for_profile(profile, reader)
    return build


def messenger(settings: Settings) -> CeleryMessenger:
    """The coordinator queue (plans, controls, hellos)."""
    return CeleryMessenger(celery_app(settings))


class _PlansLater:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send_plan(self, session_id: str) -> None:
        CeleryMessenger(celery_app(self.settings)).send_plan(session_id)


def tree_watcher(settings: Settings, app: Celery) -> TreeWatcher:
    return TreeWatcher(store(settings), TreeSnapshots(settings.home / "snapshots"), profile_sync(settings, app), SystemClock(),
                       keep=settings.snapshot_keep)


def explainer(settings: Settings) -> Explainer:
    return Explainer(store(settings), SystemClock(), scheduler_config(settings))


def drone_app(settings: Settings) -> Celery:
    """The app a drone worker runs: the build task only, no database."""
    app = celery_app(settings)
    app.conf.task_send_sent_event = False  # a drone only sends reports, taken in batches: Flower lists no task for them
    build = builder(settings)  # fail fast on bad builder settings, before the worker starts
    reporter = CeleryReporter(app)
    transport = drone_transport(settings)
    drone_tasks.register(app, functools.cache(lambda: DroneRunner(settings.name, build, settings.staging_dir, reporter, transport)))
    drone_tasks.Announcer(reporter, lambda: drone_identity(settings), settings.heartbeat).connect()
    return app


def drone_transport(settings: Settings) -> HttpUploader | None:
    """Uploads over HTTP when the drone knows the coordinator's URL; else the coordinator reads the staging directory."""
    if not settings.coordinator_url:
        return None
    if not settings.coordinator_url.startswith(("http://", "https://")):
        raise ConfigError(f"SWARM_COORDINATOR_URL={settings.coordinator_url!r} is not an http(s):// URL")
    if not settings.drone_token:
        raise ConfigError("SWARM_COORDINATOR_URL is set but SWARM_DRONE_TOKEN is not: run `build-swarm token issue "
                          f"{settings.name}` on the coordinator and put the line it prints in drone.conf")
    return HttpUploader(settings.coordinator_url, settings.drone_token)


def drone_identity(settings: Settings) -> DroneIdentity:
    capacity = Capacity(settings.cores_per_slot, settings.slots, settings.core_limit)
    return collect_identity(settings.name, settings.arch, settings.home, capacity, paused=settings.start_paused, tree=settings.tree,
                            config_root=settings.portage_config_root, builder=settings.builder)


def api_app(settings: Settings, make_request: RequestMaker) -> FastAPI:
    """The coordinator's HTTP API on the same record and broker as its worker."""
    eng = engine(settings)
    config = ApiConfig(admin_token=settings.api_token, public_status=settings.public_status, uploads_dir=uploads_dir(settings),
                       logs_dir=settings.logs_dir / "builds", binhost_dir=settings.binhost_dir)
    messenger = CeleryMessenger(celery_app(settings))
    the_store = SqlStore(eng, SystemClock())
    sessions = SessionQueue(the_store, messenger, simulated=settings.builder == "simulate")
    ctx = ApiContext(config=config, queries=Queries(eng), store=the_store, tokens=DroneTokens(eng),
                     messenger=messenger, make_request=make_request,
                     sql=ReadOnlySql.for_urls(settings.database, settings.sql_database_url), version=payload_version(),
                     syncer=ProfileSync(the_store, profile_requests(settings), sessions), sessions=sessions)
    return create_api(ctx)


def signer(settings: Settings) -> GpgSigner | None:
    """The binhost's signing key when SWARM_SIGNING_KEY is set (checked now: a missing key stops the coordinator)."""
    if not settings.signing_key:
        return None
    found = GpgSigner(settings.gnupg, settings.signing_key)
    found.fingerprint()
    return found


def uploads_dir(settings: Settings) -> Path:
    """Where the API puts drones' uploads, ``<dir>/<attempt>/<name>``: the publisher takes them from here."""
    return settings.home / "uploads"


def drone_tokens(settings: Settings) -> DroneTokens:
    return DroneTokens(engine(settings))


def inventory(settings: Settings) -> dict[str, DroneHost]:
    """The drone hosts of SWARM_FLEET_FILE (none when unset: the fleet probe only pings)."""
    return hosts(settings)[0]


def hosts(settings: Settings) -> tuple[dict[str, DroneHost], dict[str, DroneHost]]:
    """The drones and the other machines of SWARM_FLEET_FILE (none when unset)."""
    path = settings.fleet_file
    if path is None:
        return {}, {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the fleet inventory {path}: {exc.strerror} (fix or unset SWARM_FLEET_FILE)") from None
    try:
        return parse_hosts(text, str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def fleet_doctor(settings: Settings, app: Celery | None) -> FleetDoctor:
    """The fleet probe and healing ladder; without a broker (``app`` None) it does not ping, so it does not heal."""
    limits = ProbeLimits(stuck_after=settings.stuck_after or settings.build_timeout, min_free_mb=settings.min_free_mb,
                         tree_slack=settings.tree_slack)
    config = FleetConfig(limits=limits, healing=HealingPolicy(grace=settings.heal_grace, cooldown=settings.heal_cooldown),
                         command_timeout=max(30.0, settings.ssh_timeout))
    return FleetDoctor(store(settings), FabricShell(settings.ssh_timeout), SystemClock(), inventory(settings),
                       pinger=fleet_tasks.CeleryPinger(app) if app is not None else None,
                       alerter=WebhookAlerter(settings.alert_webhook) if settings.alert_webhook else None,
                       config=config, coordinator_tree=lambda: tree_timestamp(settings.tree))
