"""`build-swarm events`: what the swarm recorded (reclaims, failures, groundings, controls, ...), filtered."""

from __future__ import annotations

import time

import click

from swarm_celery.cli.inspect_cmd import clock_time, read_queries
from swarm_celery.cli.options import JSON_HELP, emit_json, session_id
from swarm_celery.domain.board import without_subject
from swarm_celery.domain.views import as_json as views_json


@click.command()
@click.option("--session", default=None, help="Only this session's events (its id or the start of one).")
@click.option("--kind", default="", help="Kinds starting with this: attempt.reclaimed, drone, package.failed, control, ...")
@click.option("--subject", default="", help="Only events about this drone, package or attempt id.")
@click.option("--since", default=0.0, type=click.FloatRange(min=0), help="Only the last N seconds.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Show at most the newest N.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def events(session: str | None, kind: str, subject: str, since: float, limit: int, as_json: bool) -> None:
    """Recorded events, oldest first (the newest LIMIT of those that match).

    \b
    build-swarm events --kind attempt.reclaimed --since 3600
    build-swarm events --subject box1 --json
    """
    queries = read_queries()
    chosen = session_id(queries, session) if session else None
    rows = queries.events(chosen, limit, kind=kind, since=time.time() - since if since else 0.0, subject=subject)
    if as_json:
        emit_json(views_json(rows))
        return
    for row in rows:
        click.echo(f"{clock_time(row.ts)}  {row.kind:<20} {row.subject or '-':<14} {without_subject(row.message or '', row.subject)}")
    if not rows:
        click.echo("no events match" + ("" if not (session or kind or subject or since) else "; try fewer filters"))
    elif len(rows) == limit:
        click.echo(f"(the newest {limit} events that match; --limit N shows more, --since N a time span)", err=True)

