"""`build-swarm control ACTION`: send an operator control to the coordinator and wait for its outcome.

The request goes to the coordinator queue as ``swarm.control`` (the coordinator is
the only writer); the outcome is the ``control.<action>`` event it records, which
this command waits for in the database.
"""

from __future__ import annotations

import time
import uuid

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json
from swarm_celery.domain.controls import Action, ControlRequest, validate
from swarm_celery.errors import UserError
from swarm_celery.ports import RecordReader


@click.command()
@click.argument("action", type=click.Choice([a.value for a in Action]))
@click.argument("atom", required=False, default="")
@click.option("--drone", default="", help="The drone (pause, resume, unground, clear_failures).")
@click.option("--session", default="", help="The session (cancel; limits unblock, reset, retry_failures).")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for the coordinator's answer.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def control(action: str, atom: str, drone: str, session: str, wait: float, as_json: bool) -> None:
    """Pause, resume, unblock, unground, reset, rebalance, clear_failures, retry_failures or cancel.

    \b
    build-swarm control pause                      # no new dispatches; running builds finish
    build-swarm control pause --drone nas          # one drone only
    build-swarm control unblock dev-libs/foo       # a blocked package and what it skipped, again
    build-swarm control cancel --session 1a2b3c
    """
    try:
        request = validate(ControlRequest(Action(action), drone, session, atom, uuid.uuid4().hex))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    settings = current_settings()
    queries = bootstrap.queries(settings)
    bootstrap.messenger(settings).send_control(request)
    outcome = _wait_for(queries, request.request_id, wait)
    if outcome is None:
        raise UserError(f"the coordinator did not answer within {wait:.0f} s; is `build-swarm worker --role coordinator` running? "
                        f"(the request stays queued and applies when it starts)")
    failed = outcome.startswith("error:")
    if as_json:
        emit_json({"action": action, "request_id": request.request_id, "ok": not failed, "outcome": outcome})
    else:
        click.echo(outcome)
    if failed:
        raise SystemExit(1)


def _wait_for(queries: RecordReader, request_id: str, wait: float) -> str | None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = queries.event_for(request_id)
        if found is not None:
            return found
        time.sleep(0.05)
    return None
