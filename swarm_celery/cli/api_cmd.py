"""`build-swarm api`, `build-swarm coordinator` (worker + API together) and `build-swarm token` (drone tokens)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json, world_options
from swarm_celery.domain.views import as_json as views_json


@click.command()
@world_options
@click.option("--host", default=None, help="Listen address (default: SWARM_API_HOST or 127.0.0.1; 0.0.0.0 for a fleet).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port (default: SWARM_API_PORT or 8080).")
def api(repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None, gentoo_profile: str | None, arch: str,
        host: str | None, port: int | None) -> None:
    """Serve the coordinator API: status, queue, control, uploads, logs, /binhost, /metrics, read-only SQL.

    --repo/--portage-config/--gentoo-profile say which tree POST /api/v1/queue resolves against.
    """
    del world_file, arch  # a queue request brings its own atoms and arch
    settings = current_settings()
    bootstrap.serve_api(settings, bootstrap.request_maker(settings, repos, portage_config, gentoo_profile), host, port)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", default=None, help="API listen address (default: SWARM_API_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="API port (default: SWARM_API_PORT or 8080).")
@click.option("--flower", "with_flower", is_flag=True, help="Run Flower too (`build-swarm flower`: FLOWER_PORT, else 5555).")
@click.argument("api_args", nargs=-1, type=click.UNPROCESSED)
def coordinator(host: str | None, port: int | None, with_flower: bool, api_args: tuple[str, ...]) -> None:
    """Run the coordinator: its Celery worker, its API and beat (periodic jobs), and with --flower Flower, stopped together.

    Extra arguments go to `api` (--repo, --portage-config, ...). Run one coordinator per swarm: one beat.
    """
    bootstrap.engine(current_settings())  # migrate once, before the worker and the API both open the record
    base = [sys.executable, "-m", "swarm_celery"]
    api_argv = [*base, "api", *api_args, *(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
    children = [subprocess.Popen([*base, "worker", "--role", "coordinator"]), subprocess.Popen(api_argv),
                subprocess.Popen([*base, "beat"]), *([subprocess.Popen([*base, "flower"])] if with_flower else [])]
    stop = {"signal": 0}

    def forward(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    try:
        while not stop["signal"] and all(c.poll() is None for c in children):
            time.sleep(0.2)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        codes = [child.wait() for child in children]
    if not stop["signal"]:
        which = [name for name, child in zip(("worker", "API", "beat", "Flower"), children, strict=False) if child.returncode not in (None, 0, -15)]
        raise SystemExit(f"the coordinator's {', '.join(which) or 'process'} stopped (exit codes {codes}); see its log above")


@click.group()
def token() -> None:
    """Drone tokens for the API (uploads and heartbeats): issue, revoke, list."""


@token.command(name="issue")
@click.argument("drone")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_issue(drone: str, as_json: bool) -> None:
    """A new token for DRONE (its old one stops working). Shown once: put it in the drone's drone.conf."""
    issued = bootstrap.drone_tokens(current_settings()).issue(drone)
    if as_json:
        emit_json({"drone": drone, "token": issued})
    else:
        click.echo(f"SWARM_DRONE_TOKEN={issued}")
        click.echo(f"# for {drone}: add the line above to its /etc/build-swarm/drone.conf; it is not shown again", err=True)


@token.command(name="revoke")
@click.argument("drone")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_revoke(drone: str, as_json: bool) -> None:
    """DRONE's token stops working at once."""
    revoked = bootstrap.drone_tokens(current_settings()).revoke(drone)
    if as_json:
        emit_json({"drone": drone, "revoked": revoked})
    elif revoked:
        click.echo(f"revoked the token of {drone}")
    else:
        raise click.ClickException(f"{drone} has no token; see `build-swarm token list`")


@token.command(name="list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def token_list(as_json: bool) -> None:
    """Drones that hold a token (the tokens themselves are not kept)."""
    rows = bootstrap.drone_tokens(current_settings()).list()
    if as_json:
        emit_json(views_json(rows))
        return
    for row in rows:
        click.echo(f"{row.drone}\tissued {time.strftime('%Y-%m-%d %H:%M', time.localtime(row.created_at))}")
    if not rows:
        click.echo("no drone tokens yet: `build-swarm token issue DRONE`")
