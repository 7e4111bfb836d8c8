"""`build-swarm worker` (one Celery worker of a role: used by `demo` and the workers/ definitions) and `build-swarm beat`."""

from __future__ import annotations

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings
from swarm_celery.settings import Settings


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
        bootstrap.run_coordinator_worker(settings, loglevel)
    else:
        start_drone(settings, loglevel, concurrency)


def start_drone(settings: Settings, loglevel: str, concurrency: int | None = None) -> None:
    """Stop what a crash of this drone's last run left building, then run its worker."""
    stopped = bootstrap.stop_orphans(settings)
    if stopped:
        click.echo(f"stopped {len(stopped)} build process groups an earlier run of this drone left running: {stopped}", err=True)
    bootstrap.run_drone(settings, loglevel, concurrency)


@click.command()
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Run Celery beat: the periodic jobs (stale-work reclaim every SWARM_RECLAIM_EVERY s). Run exactly one per swarm."""
    bootstrap.run_beat(current_settings(), loglevel)
