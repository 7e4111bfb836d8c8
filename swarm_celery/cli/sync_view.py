"""What `profile sync` / `fresh` show: the session queued, then (waiting for the plan) what will be built and why."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import click
from rich.console import Console

from swarm_celery.cli.options import emit_json
from swarm_celery.domain.views import PackageView, SessionView
from swarm_celery.errors import SwarmError, UserError
from swarm_celery.ports import RecordReader
from swarm_celery.services.profiles import Synced

PLAN_TIMEOUT = 600.0  # seconds: a resolve of a large world on a busy coordinator


class PlanFailed(SwarmError):
    pass


def follow_sync(queries: RecordReader | None, done: Synced, as_json: bool) -> None:
    what = "everything" if done.full else "what changed"
    if queries is None:
        if as_json:
            emit_json(_synced_json(done))
        else:
            click.echo(f"queued session {done.session} of profile {done.build_profile} ({what}); "
                       f"follow it with `build-swarm status --session {done.session}`")
        return
    session = _wait_for_plan(queries, done, quiet=as_json)
    summary = summarize(session, queries.packages(done.session))
    if as_json:
        emit_json(_synced_json(done) | asdict(summary))
        return
    click.echo(f"profile {done.build_profile}: session {done.session} builds {summary.to_build} of {summary.planned} packages "
               f"({summary.reused} unchanged, {len(summary.new)} new, {len(summary.changed)} changed)")
    for item in summary.changed[:50]:
        click.echo(f"  changed {item.cpv}: {item.why}")
    for cpv in summary.new[:50]:
        click.echo(f"  new     {cpv}")
    if summary.to_build:
        click.echo(f"follow it with `build-swarm status --session {done.session}`")


@dataclass(frozen=True)
class Changed:
    cpv: str
    why: str


@dataclass(frozen=True)
class SyncSummary:
    """What a profile's session builds: everything but what it published already with the same identity."""

    state: str
    planned: int
    to_build: int
    reused: int
    new: tuple[str, ...]
    changed: tuple[Changed, ...]


def summarize(session: SessionView, packages: list[PackageView]) -> SyncSummary:
    reused = [p for p in packages if p.change.startswith("unchanged")]
    changed = tuple(Changed(p.cpv, p.change.removeprefix("changed: ")) for p in packages if p.change.startswith("changed: "))
    new = tuple(p.cpv for p in packages if p.change == "new in this profile")
    return SyncSummary(session.state, len(packages), len(packages) - len(reused), len(reused), new, changed)


def _wait_for_plan(queries: RecordReader, done: Synced, quiet: bool) -> SessionView:
    deadline = time.monotonic() + PLAN_TIMEOUT
    console = Console(stderr=True, quiet=quiet)
    with console.status(f"the coordinator resolves profile {done.build_profile} ({done.atoms} world atoms) with portage ..."):
        while time.monotonic() < deadline:
            session = queries.session(done.session)
            if session is None:
                raise UserError(f"session {done.session} vanished from the record")
            if session.state == "failed":
                raise PlanFailed(f"profile {done.build_profile}: {session.error}")
            if session.state != "planning":
                return session
            time.sleep(0.2)
    raise UserError(f"no plan after {PLAN_TIMEOUT:.0f} s: is a coordinator running (`build-swarm coordinator`)? "
                    f"The session {done.session} stays queued")


def _synced_json(done: Synced) -> dict[str, object]:
    """``profile`` is the deprecated alias of ``build_profile``."""
    return {"build_profile": done.build_profile, "profile": done.build_profile, "session": done.session, "full": done.full}
