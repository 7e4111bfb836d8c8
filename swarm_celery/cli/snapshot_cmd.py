"""`build-swarm snapshot list|check`: the portage tree snapshots the tree watcher took, and a check run now."""

from __future__ import annotations

import click
from rich.console import Console

from swarm_celery import bootstrap
from swarm_celery.cli.inspect_cmd import clock_time
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json


@click.group()
def snapshot() -> None:
    """Snapshots of the portage trees the build profiles use (taken by beat's tree check when a tree changes)."""


@snapshot.command(name="list")
@click.option("--tree", default="", help="Only this tree's snapshots (its path).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def list_(tree: str, as_json: bool) -> None:
    """Snapshots, newest first."""
    found = bootstrap.store(current_settings()).snapshots(tree)
    if as_json:
        emit_json([s.to_json() for s in found])
        return
    for s in found:
        click.echo(f"{s.id}  {clock_time(s.taken_at)}  {s.files:>6} files  {_size(s.size):>9}  {s.tree}  ({s.reason})\n"
                   f"{'':18}{s.path}")
    if not found:
        click.echo("no snapshots yet: they are taken when a build profile's tree changes (`build-swarm snapshot check` "
                   "looks now)")


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


@snapshot.command(name="check")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def check(as_json: bool) -> None:
    """Look at every profile's tree now: snapshot the ones that changed, queue their auto-rebuild profiles' changes."""
    settings = current_settings()
    with Console(stderr=True, quiet=as_json).status("fingerprinting the trees and snapshotting the changed ones ..."):
        results = bootstrap.tree_watcher(settings, bootstrap.celery_app(settings)).check()
    if as_json:
        emit_json([{"tree": c.tree, "snapshot": c.snapshot.to_json() if c.snapshot else None, "pruned": list(c.pruned),
                    "sessions": [s.session for s in c.synced], "errors": list(c.errors)} for c in results])
        return
    for c in results:
        if c.snapshot is None and not c.errors:
            click.echo(f"{c.tree}: unchanged")
        elif c.snapshot is not None:
            click.echo(f"{c.tree}: snapshot {c.snapshot.id} ({c.snapshot.reason}), {c.snapshot.path}")
        for s in c.synced:
            click.echo(f"  profile {s.build_profile}: session {s.session} builds what changed")
        for error in c.errors:
            click.echo(f"  error: {error}")
    if not results:
        click.echo("no build profile names a tree yet: `build-swarm profile create NAME --repo PATH --atom ATOM`")
