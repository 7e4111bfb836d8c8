"""`build-swarm status | history | fleet | queue list`: read the record (the database); `fleet probe` in fleet_cmd."""

from __future__ import annotations

import datetime as dt
import sys

import click
from rich.console import Console
from rich.table import Table

from swarm_celery import bootstrap
from swarm_celery.cli import fleet_cmd, queue_cmd
from swarm_celery.cli.options import current_settings, emit_json
from swarm_celery.domain.views import DroneView, SessionStatus
from swarm_celery.domain.views import as_json as views_json
from swarm_celery.errors import NotFoundError, RecordError
from swarm_celery.ports import RecordReader


def read_queries() -> RecordReader:
    return bootstrap.queries(current_settings())


def whole(queries: RecordReader) -> RecordReader:
    """The record, once it reads whole: a damaged one is one line, not a half-true answer."""
    problem = queries.integrity()
    if problem:
        raise RecordError.damaged(problem)
    return queries


def session_or_newest(queries: RecordReader, session: str | None) -> str:
    found = session or queries.latest_session()
    if not found:
        raise NotFoundError("no sessions yet: start one with `build-swarm demo`")
    if session and queries.session(session) is None:
        raise NotFoundError(f"session {session} does not exist: `build-swarm status` shows the newest session")
    return found


def clock_time(value: float | None) -> str:
    return dt.datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")[:-3] if value else "-"


@click.command()
@click.option("--session", default=None, help="Session id (default: the newest).")
@click.option("--json", "as_json", is_flag=True)
def status(session: str | None, as_json: bool) -> None:
    """State of a session: packages per state, what is building where."""
    queries = whole(read_queries())
    session_id = session_or_newest(queries, session)
    info = queries.session(session_id)
    assert info is not None
    found = SessionStatus(info, tuple(queries.running(session_id)))
    if as_json:
        emit_json(found.to_json())
        return
    out = Console()
    out.print(f"session {session_id}: [bold]{info.state}[/] ({info.arch}, {info.gentoo_profile}, simulated={info.simulated})")
    out.print("  ".join(f"{k} {v}" for k, v in info.counts.items() if v) or "no packages planned yet")
    for run in found.running:
        out.print(f"  building {run.cpv} on {run.drone} since {clock_time(run.started_at)}")
    if info.error:
        out.print(f"[red]error:[/] {info.error}")


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def fleet(ctx: click.Context, as_json: bool) -> None:
    """Drones the coordinator has heard from or probed, with their latest probe (`fleet probe` runs one now)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = read_queries().fleet()
    if as_json:
        emit_json(views_json(rows))
        return
    console = Console() if sys.stdout.isatty() else Console(width=200)  # piped: whole rows, no wrapping
    if not rows:
        console.print("no drones yet: start one with `build-swarm drone` (or `build-swarm demo`)")
        return
    table = Table("drone", "arch", "state", "slots", "busy", "cores", "memory", "free disk", "builds", "failures", "last seen")
    for d in rows:
        state = d.state + (" paused" if d.paused else "") + (f" grounded→{clock_time(d.grounded_until)}" if d.grounded_until else "")
        table.add_row(d.name, d.arch, state, str(d.slots), str(d.in_flight), str(d.cores), f"{d.memory_mb} MiB",
                      f"{d.disk_free_mb} MiB", str(d.builds), str(d.failures), clock_time(d.last_seen))
    console.print(table)
    for d in rows:
        console.print(f"{d.name}: {d.builder or '?'} builder, build-swarm {_version(d)}, "
                      f"profile {d.gentoo_profile or 'unknown'}, tree {d.tree_timestamp or 'unknown'}", highlight=False)
    versions = {_version(d): sorted(e.name for e in rows if _version(e) == _version(d)) for d in rows if d.payload_version}
    if len(versions) > 1:
        console.print("mixed build-swarm versions: " + "; ".join(f"{v} on {', '.join(names)}" for v, names in sorted(versions.items()))
                      + " (`build-swarm drone deploy` upgrades them)", highlight=False)
    probed = [(d.name, d.health) for d in rows if d.health]
    if probed:
        console.print(fleet_cmd.health_table(probed))


def _version(drone: DroneView) -> str:
    return f"{drone.payload_version or '?'}" + (f" ({drone.payload_hash[:12]})" if drone.payload_hash else "")


fleet.add_command(fleet_cmd.probe)


@click.group()
def queue() -> None:
    """Inspect the build queue, or add to it."""


@queue.command(name="list")
@click.option("--session", default=None, help="Only this session.")
@click.option("--json", "as_json", is_flag=True)
def queue_list(session: str | None, as_json: bool) -> None:
    """Packages waiting, dispatched or building."""
    rows = read_queries().queue(session)
    if as_json:
        emit_json(views_json(rows))
        return
    table = Table("session", "cpv", "state")
    for r in rows:
        table.add_row(r.session, r.cpv, r.state)
    Console().print(table if rows else "the queue is empty")


queue.add_command(queue_cmd.queue_add)

COMMANDS = (status, fleet, queue)
