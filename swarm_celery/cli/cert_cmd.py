"""`build-swarm cert create NAME`: a key and certificate for signing broker messages (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import emit_json
from swarm_celery.domain.names import check_drone_name
from swarm_celery.domain.trust import COORDINATOR
from swarm_celery.errors import UserError


@click.group()
def cert() -> None:
    """Keys and certificates that sign the swarm's broker messages."""


@cert.command()
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Where NAME.key (mode 0600) and NAME.crt are written.")
@click.option("--json", "as_json", is_flag=True, help="Print the paths as one JSON object.")
def create(name: str, directory: Path, as_json: bool) -> None:
    """Create NAME.key and NAME.crt: NAME is `coordinator` (the coordinator, beat, the API and the CLI sign as it) or a drone.

    \b
    build-swarm cert create coordinator --dir /etc/build-swarm/certs
    build-swarm cert create box1 --dir /tmp/box1      # then: box1.key/.crt to the drone, box1.crt into the coordinator's store
    """
    if name != COORDINATOR:
        try:
            check_drone_name(name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    key, crt = bootstrap.create_message_certificate(directory, name)
    if as_json:
        emit_json({"name": name, "key": str(key), "certificate": str(crt)})
        return
    click.echo(f"SWARM_MESSAGE_KEY={key}")
    click.echo(f"SWARM_MESSAGE_CERT={crt}")
    click.echo(f"# copy {crt.name} into the certificate directory (SWARM_MESSAGE_CERTS) of every process that takes "
               f"its messages: {'every drone' if name == COORDINATOR else 'the coordinator'}", err=True)
