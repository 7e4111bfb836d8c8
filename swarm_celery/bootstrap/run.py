"""Running a role in the foreground: a coordinator or drone Celery worker, or beat (what services and `demo` start)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from celery import Celery

from swarm_celery.bootstrap.coordinator import beat_app, beat_schedule, coordinator_app, coordinator_tasks_on
from swarm_celery.bootstrap.core import celery_app, celery_config_of, signing
from swarm_celery.bootstrap.drone import builder, drone_app, drone_identity, drone_tasks_on, drone_transport
from swarm_celery.domain.flower import FlowerRequest, plan_flower
from swarm_celery.domain.model import COORDINATOR_NODE, COORDINATOR_QUEUE, PERIODIC_QUEUE, build_queue, drone_node, drone_queue
from swarm_celery.drone.process import reap_orphans
from swarm_celery.errors import ConfigError
from swarm_celery.settings import Settings
from swarm_celery.tasks.batches import REPORT_BATCH
from swarm_celery.tasks.drone import consumes_drone_queues


def run_coordinator_worker(settings: Settings, loglevel: str) -> None:
    """The one writer of the store: one task at a time; reports are taken in batches (tasks.batches)."""
    app = coordinator_app(settings)
    argv = ["-Q", f"{COORDINATOR_QUEUE},{PERIODIC_QUEUE}", "--pool", "solo", "-c", "1", "--prefetch-multiplier", str(2 * REPORT_BATCH)]
    _run(app, COORDINATOR_NODE, argv, loglevel)


def stop_orphans(settings: Settings) -> list[int]:
    """Stop the builds a crash of an earlier run of this drone left running; their process groups."""
    return reap_orphans(settings.run_dir)


def run_drone(settings: Settings, loglevel: str, concurrency: int | None = None, app: Celery | None = None) -> None:
    """A drone worker: its arch's queue and its own, one process per build slot."""
    app = app or drone_app(settings)
    queues = f"{build_queue(settings.arch)},{drone_queue(settings.name)}"
    concurrency = concurrency or drone_identity(settings).slots
    # the coordinator sends a drone at most slots + SWARM_LOOKAHEAD builds (ADR 0003); holding the queued one in the
    # worker rather than in Redis lets a slot start it the moment the previous build ends
    prefetch = 2 if settings.lookahead else 1
    _run(app, drone_node(settings.name), ["-Q", queues, "--pool", "prefork", "-c", str(concurrency), "--prefetch-multiplier", str(prefetch)],
         loglevel)


def run_beat(settings: Settings, loglevel: str) -> None:
    """Celery beat: the periodic jobs. Run exactly one per swarm."""
    app = beat_app(settings)
    schedule = settings.home / "beat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.Beat(loglevel=loglevel, schedule=str(schedule), max_interval=min(5.0, settings.reclaim_every)).run()


def _run(app: Celery, node: str, argv: list[str], loglevel: str) -> None:
    """A worker named ``node@<host>``: the role is in the node name (``coordinator``, ``drone.<name>``), so a drone named
    after its host never shares the coordinator's node name, and pings and broadcasts reach the worker meant."""
    app.worker_main(["worker", *argv, "-n", f"{node}@%h", "--loglevel", loglevel, "-E", "--without-gossip", "--without-mingle"])


def celery_command_config(settings: Settings) -> dict[str, Any]:
    """The configuration of the module-level app Celery's own command line uses (``swarm_celery.celeryconfig``): the
    same broker, routing and delivery settings as the workers build-swarm starts, and beat's schedule."""
    return {**celery_config_of(settings), "beat_schedule": beat_schedule(settings),
            "beat_schedule_filename": str(settings.home / "beat-schedule")}


def celery_command_tasks(app: Celery, settings: Settings) -> None:
    """The module-level app's tasks (``celery -A swarm_celery worker ...``): the coordinator's and a drone's, each built
    when first used; a worker that consumes a build or drone queue announces itself as drone ``settings.name``."""
    if signing(settings):
        raise ConfigError("SWARM_MESSAGE_KEY is set: every message must be signed, and `celery -A swarm_celery` workers do not sign: "
                          "run `build-swarm worker --role coordinator` or `build-swarm drone` instead")
    coordinator_tasks_on(app, settings)
    drone_tasks_on(app, settings, functools.cache(lambda: builder(settings)), functools.cache(lambda: drone_transport(settings)),
                   only_if=consumes_drone_queues)


def run_flower(settings: Settings, request: FlowerRequest, environ: Mapping[str, str]) -> None:
    """Flower (the live view of workers and tasks) on the swarm's broker, until it is stopped."""
    try:
        plan = plan_flower(replace(request, db=request.db or str(settings.home / "flower" / "flower.db")), environ, settings.api_token)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    Path(request.db or settings.home / "flower" / "flower.db").parent.mkdir(parents=True, exist_ok=True)
    from flower import options as _defined  # noqa: F401  (defines Flower's options before they are set)
    from tornado.options import options

    if plan.basic_auth:
        options.basic_auth = [plan.basic_auth]  # in the process: a secret never goes on the command line
    celery_app(settings).start(["flower", *plan.argv])
