"""`build-swarm explain ATOM`: why a package is where it is (waiting on what, placed where, blocked by whom)."""

from __future__ import annotations

import click
from rich.console import Console

from swarm_celery import bootstrap
from swarm_celery.cli.options import current_settings, emit_json


@click.command()
@click.argument("atom")
@click.option("--session", default="", help="Only this session (default: every running or complete one).")
@click.option("--json", "as_json", is_flag=True)
def explain(atom: str, session: str, as_json: bool) -> None:
    """Why ATOM (category/package or =category/package-version) is where it is in the plan."""
    found = bootstrap.explainer(current_settings()).explain(atom, session)
    if as_json:
        emit_json([{"session": pkg.session_id, "cpv": pkg.cpv, "state": pkg.state.value, **why.to_json()} for pkg, why in found])
        return
    out = Console()
    for pkg, why in found:
        out.print(f"[bold]{pkg.cpv}[/] (session {pkg.session_id}): {why.summary}", highlight=False)
        for line in why.details[:20]:
            out.print(f"  {line}", highlight=False)
