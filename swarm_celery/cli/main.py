"""The ``build-swarm`` command: click groups, no logic (each command calls bootstrap / services)."""

from __future__ import annotations

import importlib
import sys

import click

from swarm_celery.cli.options import Invocation
from swarm_celery.errors import SwarmError

# command → "module:attribute"; a command's module is imported only when it runs (or for --help), so
# `build-swarm resolve` does not pay for Celery, FastAPI and SQLAlchemy it never uses (about 3 s here)
COMMANDS = {
    "demo": "demo_cmd:demo", "resolve": "resolve_cmd:resolve", "worker": "worker_cmd:worker", "beat": "worker_cmd:beat",
    "drone": "drone_cmd:drone", "api": "api_cmd:api", "coordinator": "api_cmd:coordinator", "token": "api_cmd:token",
    "binhost": "binhost_cmd:binhost", "control": "control_cmd:control", "events": "events_cmd:events",
    "explain": "explain_cmd:explain", "history": "history_cmd:history", "profile": "profile_cmd:profile",
    "fresh": "profile_cmd:fresh", "snapshot": "snapshot_cmd:snapshot", "status": "inspect_cmd:status",
    "fleet": "inspect_cmd:fleet", "queue": "inspect_cmd:queue", "settings": "settings_cmd:settings", "cert": "cert_cmd:cert",
    "bootstrap-script": "fleet_ops_cmd:bootstrap_script",
    "sessions": "sessions_cmd:sessions", "plan": "sessions_cmd:plan", "logs": "sessions_cmd:logs",
    "monitor": "monitor_cmd:monitor", "flower": "flower_cmd:flower",
    "prefix": "prefix_cmd:prefix",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"swarm_celery.cli.{module}"), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="swarm-celery", prog_name="build-swarm", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """build-swarm: build a Gentoo @world once across a fleet of drones, publish a binhost."""
    ctx.obj = Invocation(debug=debug)


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
