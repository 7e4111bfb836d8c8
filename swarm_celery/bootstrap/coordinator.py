"""The coordinator's side: its services on one store and broker, its Celery app, beat's schedule, profiles, the fleet doctor."""

from __future__ import annotations

import functools
from typing import Any

from celery import Celery

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.bootstrap.core import (
    celery_app,
    durations,
    hosts,
    inventory,
    scheduler_config,
    signer,
    signing,
    store,
    uploads_dir,
)
from swarm_celery.bootstrap.fleet import drift_watch
from swarm_celery.clock import SystemClock
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.fleet import ProbeLimits
from swarm_celery.domain.healing import HealingPolicy
from swarm_celery.domain.model import PERIODIC_QUEUE
from swarm_celery.domain.profiles import BuildProfile
from swarm_celery.drone.identity import tree_timestamp
from swarm_celery.fleet.machine import SshMachineFiles
from swarm_celery.fleet.ssh import FabricShell
from swarm_celery.fleet.webhook import WebhookAlerter
from swarm_celery.ports import RequestBuilder
from swarm_celery.resolve.adapter import PortageResolver
from swarm_celery.resolve.build_config import BuildConfigFiles
from swarm_celery.resolve.inputs import request_for_profile
from swarm_celery.resolve.snapshot import TreeSnapshots
from swarm_celery.services.audit import DriftWatch
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.services.explain import Explainer
from swarm_celery.services.fleet import FleetConfig, FleetDoctor
from swarm_celery.services.generations import Generations
from swarm_celery.services.profiles import ProfileSync, TreeWatcher
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.settings import Settings
from swarm_celery.store.repository import SqlStore
from swarm_celery.tasks import coordinator as coordinator_tasks
from swarm_celery.tasks import fleet as fleet_tasks
from swarm_celery.tasks import tree as tree_tasks
from swarm_celery.tasks.census import RedisCensus
from swarm_celery.tasks.messaging import CeleryBroker, CeleryMessenger


def coordinator(settings: Settings, app: Celery) -> Coordinator:
    return coordinator_services(settings, app)[0]


def coordinator_services(settings: Settings, app: Celery) -> tuple[Coordinator, Controller]:
    """The coordinator and the controls, sharing one store, broker and dispatcher (one writer)."""
    the_store, broker, clock = store(settings), CeleryBroker(app), SystemClock()
    publisher = BinhostPublisher(settings.binhost_dir, uploads_dir(settings), signer(settings), staging=settings.staging_dir)
    made = generations(settings, the_store)
    coord = Coordinator(the_store, PortageResolver(settings.cache_dir), broker, publisher, prior=durations(settings), clock=clock,
                        config=scheduler_config(settings), census=RedisCensus(app), simulated=settings.builder == "simulate",
                        configs=BuildConfigFiles(settings.build_configs_dir), on_complete=made.on_complete)
    return coord, Controller(the_store, broker, coord.dispatcher, clock)


def coordinator_app(settings: Settings) -> Celery:
    """The app a coordinator worker runs: coordinator tasks, services built lazily in the worker process."""
    app = celery_app(settings)
    key = signer(settings)  # a configured signing key that is not there stops the worker before it takes work
    if key is not None:  # the binhost serves the public key from the start: drones' `prefix init` and clients fetch it
        BinhostPublisher(settings.binhost_dir, signer=key)
    inventory(settings)  # a malformed fleet inventory stops the worker before it takes work
    coordinator_tasks_on(app, settings)
    return app


def coordinator_tasks_on(app: Celery, settings: Settings) -> None:
    """The coordinator's and beat's tasks on ``app``; their services are built when a task first runs."""
    services = functools.cache(lambda: coordinator_services(settings, app))
    signed = signing(settings)
    coordinator_tasks.register(app, lambda: services()[0], lambda: services()[1], signed)
    tree_tasks.register(app, functools.cache(lambda: tree_watcher(settings, app)), signed)
    doctor, watch = functools.cache(lambda: fleet_doctor(settings, app)), functools.cache(lambda: drift_watch(settings))

    def probing() -> FleetDoctor:
        doctor().inventory = inventory(settings)  # read again each round: drones `drone provision` added join
        return doctor()

    def auditing() -> DriftWatch:
        watch().auditor.inventory = inventory(settings)
        return watch()

    fleet_tasks.register(app, probing, signed)
    fleet_tasks.register_audit(app, auditing, signed)


def beat_app(settings: Settings) -> Celery:
    """The app `build-swarm beat` runs: only the schedule; every job is a task on the periodic queue."""
    app = celery_app(settings)
    app.conf.beat_schedule = beat_schedule(settings)
    return app


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat's jobs, each a task on the periodic queue that expires when its next run is due."""
    every = settings.reclaim_every
    return {
        "reclaim": {"task": "swarm.reclaim", "schedule": every, "options": {"queue": PERIODIC_QUEUE, "expires": every}},
        "breaker": {"task": "swarm.breaker", "schedule": every, "options": {"queue": PERIODIC_QUEUE, "expires": every}},
        "check_tree": {"task": "swarm.check_tree", "schedule": settings.tree_check_every,
                       "options": {"queue": PERIODIC_QUEUE, "expires": settings.tree_check_every}},
        "probe_fleet": {"task": "swarm.probe_fleet", "schedule": settings.probe_every,
                        "options": {"queue": PERIODIC_QUEUE, "expires": settings.probe_every}},
        "audit_fleet": {"task": "swarm.audit_fleet", "schedule": settings.audit_every,
                        "options": {"queue": PERIODIC_QUEUE, "expires": settings.audit_every}},
    }


def session_queue(settings: Settings, app: Celery | None = None) -> SessionQueue:
    """Queueing sessions; without ``app`` (the CLI) the broker is reached only when a session is sent."""
    plans = CeleryMessenger(app) if app is not None else _PlansLater(settings)
    return SessionQueue(store(settings), plans, simulated=settings.builder == "simulate")


class _PlansLater:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send_plan(self, session_id: str) -> None:
        CeleryMessenger(celery_app(self.settings)).send_plan(session_id)


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


def tree_watcher(settings: Settings, app: Celery) -> TreeWatcher:
    return TreeWatcher(store(settings), TreeSnapshots(settings.home / "snapshots"), profile_sync(settings, app), SystemClock(),
                       keep=settings.snapshot_keep)


def explainer(settings: Settings) -> Explainer:
    return Explainer(store(settings), SystemClock(), scheduler_config(settings))


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


def generations(settings: Settings, record: SqlStore | None = None) -> Generations:
    """The binhost generations of every build profile (below SWARM_HOME/binhost/generations) and their use cases."""
    return Generations(GenerationFiles(settings.binhost_dir, uploads=uploads_dir(settings)), record or store(settings), SystemClock())
