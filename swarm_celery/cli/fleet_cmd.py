"""`build-swarm fleet probe`: one fleet probe round now (what beat's ``swarm.probe_fleet`` does), and the health table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import click
from rich.table import Table

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json
from swarm_celery.domain.fleet import DroneCheck
from swarm_celery.domain.healing import Level
from swarm_celery.domain.views import ProbeView


@click.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.option("--no-ping", is_flag=True, help="Do not ping the workers over the broker (then the healing ladder does not act).")
def probe(as_json: bool, no_ping: bool) -> None:
    """Probe every drone now: ping, and over SSH (SWARM_FLEET_FILE) load, disk, memory, stuck emerges, tree age."""
    settings = current_settings()
    app = bootstrap.celery_app(settings) if settings.broker_url and not no_ping else None
    doctor = bootstrap.fleet_doctor(settings, app)
    if not doctor.inventory and not as_json:
        click.echo("no fleet inventory (SWARM_FLEET_FILE): pinging only; see the README to add SSH coordinates", err=True)

    def progress(check: DroneCheck) -> None:
        if not as_json:
            click.echo(_one_line(check), err=True)

    checks = doctor.probe_round(progress)
    if as_json:
        emit_json([c.to_json() for c in checks])
    elif not checks:
        click.echo("no drones to probe: add them to SWARM_FLEET_FILE, or start one with `build-swarm drone`")


def _one_line(check: DroneCheck) -> str:
    ping = {None: "not pinged", True: "answers", False: "does not answer"}[check.answered]
    ssh = {None: "no SSH entry", True: "SSH ok", False: f"SSH failed: {check.error}"}[check.reachable]
    found = "; ".join(f.message for f in check.findings)
    done = "; ".join(check.actions)
    return f"{check.name}: {ping}, {ssh}" + (f"; {found}" if found else "") + (f"; healing: {done}" if done else "")


def health_table(rows: Sequence[tuple[str, ProbeView]]) -> Table:
    table = Table("drone", "probed", "ping", "ssh", "load", "mem avail", "build free", "PKGDIR free", "tree", "stuck", "healing", "notes")
    for name, h in rows:
        load = " ".join(f"{x:.2f}" for x in h.load) if h.load else "-"
        notes = "; ".join([*(f.message for f in h.findings), *([h.error] if h.error else [])])
        table.add_row(name, dt.datetime.fromtimestamp(h.at).strftime("%H:%M:%S"), _yes(h.answered), _yes(h.reachable),
                      load, _mib(h.mem_avail_mb), _mib(h.build_free_mb), _mib(h.pkgdir_free_mb),
                      (h.tree or "-") + _hold(h), str(h.stuck), Level(h.level).label, notes)
    return table


def _hold(health: ProbeView) -> str:
    """" (held)" for a drone held for its stale tree, with its sync when one is running or failed."""
    if not health.tree_hold:
        return ""
    if health.sync == "running":
        return " (held, syncing)"
    return f" (held, sync {health.sync})" if health.sync not in ("", "exit 0") else " (held)"


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "NO"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value} MiB"

