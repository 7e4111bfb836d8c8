"""`build-swarm sessions`, `build-swarm plan` and `build-swarm logs`: the record's sessions, a plan's packages, a build's log."""

from __future__ import annotations

import time

import click
from rich.table import Table

from swarm_celery import bootstrap
from swarm_celery.cli.inspect_cmd import read_queries
from swarm_celery.cli.options import JSON_HELP, console, current_settings, emit_json, session_id
from swarm_celery.domain.board import LogChunk
from swarm_celery.domain.progress import clock_duration
from swarm_celery.domain.views import as_json as views_json

STAGES = ("ready", "waiting", "building", "blocked", "done")


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500), help="Show the newest N.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def sessions(limit: int, as_json: bool) -> None:
    """Sessions, newest first: state, packages done of planned, when each started and ended."""
    rows = read_queries().overview(limit).sessions
    if as_json:
        emit_json([s.to_json() for s in rows])
        return
    if not rows:
        click.echo("no sessions yet: start one with `build-swarm demo` or `build-swarm queue add`")
        return
    table = Table("session", "state", "arch", "profile", "done", "failed", "blocked", "created", "finished", "ETA")
    for s in rows:
        v = s.session
        table.add_row(v.session, v.state + (" (simulated)" if v.simulated else ""), v.arch, v.build_profile or v.gentoo_profile,
                      f"{s.done}/{v.planned}", str(v.counts.get("failed", 0)), str(v.counts.get("blocked", 0)),
                      _date(v.created_at), _date(v.finished_at), clock_duration(s.eta_seconds))
    console().print(table)


@click.command()
@click.option("--session", default=None, help="Session id, or the start of one (default: the newest).")
@click.option("--stage", type=click.Choice(STAGES), multiple=True, help="Only packages at this stage (repeatable).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def plan(session: str | None, stage: tuple[str, ...], as_json: bool) -> None:
    """A session's packages: ready (every build dependency published), waiting (on N), building, blocked, done.

    The longest remaining critical path first; `build-swarm explain ATOM` tells why one is where it is.
    """
    queries = read_queries()
    chosen = session_id(queries, session)
    rows = [r for one in (stage or ("",)) for r in queries.plan(chosen, one)]
    if as_json:
        emit_json(views_json(rows))
        return
    table = Table("package", "stage", "state", "waits on", "critical path", "why")
    for r in rows:
        table.add_row(r.cpv, r.stage, r.state, str(r.pending) if r.pending else "-", clock_duration(r.rank), r.reason or "-")
    console().print(table if rows else "no packages match")


@click.command()
@click.argument("target", metavar="ATTEMPT|CPV")
@click.option("--session", default="", help="With a package: its attempt in this session (default: its newest anywhere).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the build writes, until it ends.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds between looks, with --follow.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per chunk read (attempt, offset, text, done).")
def logs(target: str, session: str, follow: bool, interval: float, as_json: bool) -> None:
    """Print a build's log: by attempt id, or the newest attempt at a package (`cat/pkg` or `cat/pkg-1.2`)."""
    settings = current_settings()
    reader = bootstrap.build_logs(settings)
    queries = read_queries()
    attempt = reader.which(target, session_id(queries, session) if session else "")
    offset, shown = 0, False
    while True:
        chunk = reader.read(attempt, offset)
        shown = shown or bool(chunk.text)
        _show(chunk, as_json)
        offset = chunk.next_offset
        if chunk.done or (not follow and chunk.next_offset == chunk.offset):
            break
        if chunk.next_offset == chunk.offset:
            time.sleep(interval)
    if not shown and not as_json:
        _explain_missing(attempt, chunk, queries.log_tail(attempt) or "")


def _show(chunk: LogChunk, as_json: bool) -> None:
    if as_json:
        emit_json({"attempt": chunk.attempt, "offset": chunk.offset, "text": chunk.text, "next_offset": chunk.next_offset,
                   "done": chunk.done, "exists": chunk.exists})
    elif chunk.text:
        click.echo(chunk.text, nl=False)


def _explain_missing(attempt: str, chunk: LogChunk, tail: str) -> None:
    if chunk.exists:
        click.echo(f"(the log of attempt {attempt} is empty so far)", err=True)
    elif chunk.done:
        click.echo(f"(no build log file for attempt {attempt}; the end of it, as its drone reported it:)", err=True)
        click.echo(tail)
    else:
        click.echo(f"(attempt {attempt} has no log here yet: a remote drone uploads it when the build ends; "
                   "--follow waits for it)", err=True)


def _date(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(value)) if value else "-"


__all__ = ["logs", "plan", "sessions"]
