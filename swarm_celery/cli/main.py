"""The ``build-swarm`` command: click groups, no logic (each command calls bootstrap / services)."""

from __future__ import annotations

import sys

import click

from swarm_celery.cli import (
    api_cmd,
    binhost_cmd,
    control_cmd,
    demo_cmd,
    drone_cmd,
    events_cmd,
    explain_cmd,
    history_cmd,
    inspect_cmd,
    profile_cmd,
    resolve_cmd,
    snapshot_cmd,
    worker_cmd,
)
from swarm_celery.errors import SwarmError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """build-swarm: build a Gentoo @world once across a fleet of drones, publish a binhost."""
    ctx.obj = {"debug": debug}


for command in (demo_cmd.demo, resolve_cmd.resolve, worker_cmd.worker, worker_cmd.beat, drone_cmd.drone, api_cmd.api, api_cmd.coordinator, api_cmd.token, binhost_cmd.binhost, control_cmd.control, events_cmd.events, explain_cmd.explain, history_cmd.history,
                profile_cmd.profile, profile_cmd.fresh, snapshot_cmd.snapshot,
                *inspect_cmd.COMMANDS):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="build-swarm", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SwarmError as exc:
        if debug:
            details = getattr(exc, "details", "")
            if details:
                click.echo(details, err=True)
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
