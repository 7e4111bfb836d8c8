"""`build-swarm flower`: Celery's Flower on the swarm's broker, with authentication, persistent state and a URL prefix."""

from __future__ import annotations

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings, invocation
from swarm_celery.domain.flower import FlowerRequest


@click.command()
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default: FLOWER_PORT, else 5555).")
@click.option("--address", default=None, help="Listen address (default: FLOWER_ADDRESS, else 127.0.0.1).")
@click.option("--url-prefix", default="", help="Serve under /PREFIX/ (behind a reverse proxy; default: FLOWER_URL_PREFIX).")
@click.option("--persistent/--no-persistent", default=True, show_default=True,
              help="Keep Flower's task list across restarts (in $SWARM_HOME/flower/).")
def flower(port: int | None, address: str | None, url_prefix: str, persistent: bool) -> None:
    """Run Flower, the live view of the swarm's Celery workers and tasks (`swarm.build` on the drones, plans, controls).

    It asks for user admin with the admin token (SWARM_API_TOKEN) as password, unless FLOWER_BASIC_AUTH or
    FLOWER_AUTH says otherwise; without either it listens only on the loopback. Flower's own FLOWER_* variables
    apply. Drones' reports travel in batches, which Flower cannot list: `build-swarm events` and the dashboard show them.
    """
    settings = current_settings()
    environ = {k: v for k, v in invocation().environ.items() if k.startswith("FLOWER_")}
    bootstrap.run_flower(settings, FlowerRequest(port, address, url_prefix, persistent), environ)
