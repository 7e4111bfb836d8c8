"""`build-swarm settings`: the settings in effect (secrets masked), or the reference of every setting."""

from __future__ import annotations

import click

from swarm_celery.cli.options import emit_json, invocation
from swarm_celery.settings import GROUPS, declared, settings_table


@click.command()
@click.option("--markdown", is_flag=True, help="Print the reference of every setting (docs/settings.md) instead.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: variable → value in effect (secrets masked).")
def settings(markdown: bool, as_json: bool) -> None:
    """Show every SWARM_* setting in effect here, where it comes from, and what it means.

    \b
    build-swarm settings                  # grouped, with the variables you set marked
    build-swarm settings --json | jq .SWARM_BROKER_URL
    """
    if markdown:
        click.echo(settings_table(), nl=False)
        return
    run = invocation()
    rendered = run.settings.to_env()
    shown = {spec.env: _masked(rendered[spec.env]) if spec.secret else rendered[spec.env] for _, spec in declared()}
    if as_json:
        emit_json(shown)
        return
    for group in GROUPS:
        click.echo(f"{group}:")
        for _, spec in declared():
            if spec.group == group:
                source = "set" if run.environ.get(spec.env) else "default"
                click.echo(f"  {spec.env:<26} {shown[spec.env] or '—':<40} ({source}) {spec.help}")


def _masked(value: str) -> str:
    return "***" if value else ""
