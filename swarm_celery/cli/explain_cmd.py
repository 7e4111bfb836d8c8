"""`build-swarm explain ATOM`: why a package is where it is (waiting on what, placed where, blocked by whom)."""

from __future__ import annotations

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, console, current_settings, emit_json, session_id


@click.command()
@click.argument("atom")
@click.option("--session", default="", help="Only this session, its id or the start of one (default: every running or complete one).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def explain(atom: str, session: str, as_json: bool) -> None:
    """Why ATOM (category/package or =category/package-version) is where it is in the plan."""
    settings = current_settings()
    chosen = session_id(bootstrap.queries(settings), session) if session else ""
    found = bootstrap.explainer(settings).explain(atom, chosen)
    if as_json:
        emit_json([{"session": pkg.session_id, "cpv": pkg.cpv, "state": pkg.state.value, **why.to_json()} for pkg, why in found])
        return
    out = console()
    for pkg, why in found:
        out.print(f"[bold]{pkg.cpv}[/] (session {pkg.session_id}): {why.summary}", highlight=False)
        for line in why.details[:20]:
            out.print(f"  {line}", highlight=False)
