"""A drone's side: its builder (simulate or emerge), its Celery app, its uploads, what it announces."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from celery import Celery

from swarm_celery.bootstrap.core import build_logs_dir, celery_app, durations, signing
from swarm_celery.domain.audit import Check
from swarm_celery.domain.emerge_cmd import EmergeConfig
from swarm_celery.domain.model import DroneIdentity
from swarm_celery.domain.simulation import Chaos
from swarm_celery.drone.builders import Builder, SimulateBuilder
from swarm_celery.drone.emerge import EmergeBuilder
from swarm_celery.drone.identity import Capacity, collect_identity, payload_version
from swarm_celery.drone.prefix import ConfigSource, EmergePrefix, SharedConfigs
from swarm_celery.drone.prefix_init import init_prefix
from swarm_celery.drone.preflight import broker_check, coordinator_checks
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.drone.upload import HttpUploader
from swarm_celery.errors import ConfigError
from swarm_celery.settings import Settings
from swarm_celery.tasks import drone as drone_tasks
from swarm_celery.tasks.messaging import CeleryReporter


def builder(settings: Settings) -> Builder:
    if settings.builder == "simulate":
        return SimulateBuilder(durations(settings), settings.time_scale, frozenset(settings.simulate_fail), settings.simulate_speed,
                               logs=build_logs_dir(settings), chaos=chaos(settings))
    if settings.builder == "emerge":
        return emerge_builder(settings)
    raise ConfigError(f"unknown builder {settings.builder!r}: set SWARM_BUILDER to simulate or emerge")


def chaos(settings: Settings) -> Chaos:
    """How a simulated drone's builds differ from the durations table (SWARM_SIMULATE_NOISE, _BIAS, _TRANSIENT, _SEED)."""
    try:
        return Chaos(settings.simulate_noise, settings.simulate_bias, settings.simulate_transient, settings.simulate_seed)
    except ValueError as exc:
        raise ConfigError(f"{exc}: fix SWARM_SIMULATE_NOISE, SWARM_SIMULATE_BIAS or SWARM_SIMULATE_TRANSIENT") from None


def emerge_builder(settings: Settings) -> EmergeBuilder:
    emerge = emerge_program(settings)
    me = drone_identity(settings)
    cores = min(me.cores, settings.core_limit or me.cores)
    pkgdir, tmpdir, prefix = settings.pkgdir, settings.portage_tmpdir, None
    if settings.emerge_prefix is not None:  # the prefix says where its packages and builds go
        info = emerge_prefix(settings).check()
        pkgdir, tmpdir = info.pkgdir, info.tmpdir
        prefix = (emerge_prefix(settings), config_source(settings))
    try:
        config = EmergeConfig(settings.binhost_url, str(pkgdir), cores, me.slots)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return EmergeBuilder(config, build_logs_dir(settings), timeout=settings.build_timeout, min_free_mb=settings.min_free_mb,
                         tmpdir=tmpdir, emerge=emerge, run_dir=settings.run_dir, prefix=prefix)


def emerge_program(settings: Settings) -> str:
    found = shutil.which(settings.emerge)
    if found is None:
        raise ConfigError(f"{settings.emerge!r} is not an executable on PATH: the emerge builder runs on a Gentoo host or in a "
                          "portage prefix (set SWARM_EMERGE, or SWARM_BUILDER=simulate)")
    return found


def emerge_prefix(settings: Settings) -> EmergePrefix:
    """The drone's private portage prefix (SWARM_EMERGE_PREFIX); ConfigError when none is set."""
    if settings.emerge_prefix is None:
        raise ConfigError("no SWARM_EMERGE_PREFIX: this drone builds with the host's /etc/portage")
    return EmergePrefix(settings.emerge_prefix, settings.arch, emerge_program(settings), os.environ)


def config_source(settings: Settings) -> ConfigSource:
    """Where a prefix drone gets each plan's configuration: the coordinator's API, else the SWARM_HOME it shares with it."""
    transport = drone_transport(settings)
    return transport if transport is not None else SharedConfigs(settings.build_configs_dir)


def drone_app(settings: Settings) -> Celery:
    """The app a drone worker runs: the build task only, no database."""
    app = celery_app(settings, signer=settings.name)
    app.conf.task_send_sent_event = False  # a drone only sends reports, taken in batches: Flower lists no task for them
    build = builder(settings)  # fail fast on bad builder settings, before the worker starts
    transport = drone_transport(settings)
    drone_tasks_on(app, settings, lambda: build, lambda: transport)
    return app


def drone_tasks_on(app: Celery, settings: Settings, build: Callable[[], Builder], transport: Callable[[], HttpUploader | None],
                   only_if: Callable[[object], bool] | None = None) -> None:
    """The build task on ``app`` (its runner made on first use), and the hello, heartbeats and goodbye of drone
    ``settings.name`` (with ``only_if``: for a worker it says yes to, given Celery's consumer)."""
    reporter = CeleryReporter(app)
    runner = functools.cache(lambda: DroneRunner(settings.name, build(), settings.staging_dir, reporter, transport(),
                                                 settings.start_report_after))
    drone_tasks.register(app, runner, signing(settings))
    drone_tasks.Announcer(reporter, lambda: drone_identity(settings), settings.heartbeat, only_if).connect()


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
    config_root = settings.portage_config_root
    if settings.emerge_prefix is not None and config_root == Path("/etc/portage"):  # the default: the prefix's, announced
        config_root = settings.emerge_prefix / "etc" / "portage"
    return collect_identity(settings.name, settings.arch, settings.home, capacity, paused=settings.start_paused, tree=settings.tree,
                            config_root=config_root, builder=settings.builder)


def drone_preflight(settings: Settings) -> list[Check]:
    """Over the network: the broker (and its password), the coordinator's URL, and this drone's token there."""
    return [broker_check(settings.broker_url),
            *coordinator_checks(settings.coordinator_url, settings.drone_token, settings.name, payload_version())]


__all__ = ["builder", "config_source", "drone_app", "drone_identity", "drone_preflight", "drone_tasks_on", "drone_transport",
           "emerge_builder", "emerge_prefix", "init_prefix"]
