"""`build-swarm worker`: run one Celery worker of a given role (used by `demo` and the workers/ definitions)."""

from __future__ import annotations

import click
from celery import Celery

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings
from swarm_celery.domain.model import COORDINATOR_QUEUE, PERIODIC_QUEUE, build_queue, drone_queue
from swarm_celery.drone.process import reap_orphans
from swarm_celery.settings import Settings
from swarm_celery.tasks.batches import REPORT_BATCH


@click.command()
@click.option("--role", type=click.Choice(["coordinator", "drone"]), required=True)
@click.option("--name", default=None, help="Worker/drone name (default: SWARM_DRONE_NAME or the host name).")
@click.option("--concurrency", default=None, type=click.IntRange(1, 256),
              help="Worker processes (default: 1 for the coordinator; the drone's slots for a drone).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(role: str, name: str | None, concurrency: int | None, loglevel: str) -> None:
    """Run a coordinator or drone Celery worker in the foreground."""
    settings = current_settings()
    if name:
        settings = settings.with_(drone_name=name)
    if role == "coordinator":
        app = bootstrap.coordinator_app(settings)
        # the one writer of the store: one task at a time; reports are taken in batches (tasks.batches)
        argv = ["-Q", f"{COORDINATOR_QUEUE},{PERIODIC_QUEUE}", "--pool", "solo", "-c", "1", "--prefetch-multiplier", str(2 * REPORT_BATCH)]
        _run(app, settings, argv, loglevel)
    else:
        run_drone(bootstrap.drone_app(settings), settings, loglevel, concurrency)


def run_drone(app: Celery, settings: Settings, loglevel: str, concurrency: int | None = None) -> None:
    """A drone worker: its arch's queue and its own, one process per build slot (after stopping builds a crash left)."""
    stopped = reap_orphans(settings.run_dir)
    if stopped:
        click.echo(f"stopped {len(stopped)} build process groups an earlier run of this drone left running: {stopped}", err=True)
    queues = f"{build_queue(settings.arch)},{drone_queue(settings.name)}"
    concurrency = concurrency or bootstrap.drone_identity(settings).slots
    # the coordinator sends a drone at most slots + SWARM_LOOKAHEAD builds (ADR 0003); holding the queued one in the
    # worker rather than in Redis lets a slot start it the moment the previous build ends
    prefetch = 2 if settings.lookahead else 1
    _run(app, settings, ["-Q", queues, "--pool", "prefork", "-c", str(concurrency), "--prefetch-multiplier", str(prefetch)], loglevel)


def _run(app: Celery, settings: Settings, argv: list[str], loglevel: str) -> None:
    app.worker_main(["worker", *argv, "-n", f"{settings.name}@%h", "--loglevel", loglevel, "-E", "--without-gossip", "--without-mingle"])


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run Celery beat: the periodic jobs (stale-work reclaim every SWARM_RECLAIM_EVERY s). Run exactly one per swarm."""
    settings = current_settings()
    app = bootstrap.beat_app(settings)
    schedule = settings.home / "beat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.Beat(loglevel=loglevel, schedule=str(schedule), max_interval=min(5.0, settings.reclaim_every)).run()
