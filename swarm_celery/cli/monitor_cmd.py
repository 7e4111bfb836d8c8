"""`build-swarm monitor`: a live terminal view of the swarm (rich Live), refreshed every --interval seconds; q quits."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator

import click
from rich.console import RenderableType
from rich.live import Live
from rich.text import Text

from swarm_celery.cli.inspect_cmd import read_queries
from swarm_celery.cli.monitor_view import frame
from swarm_celery.cli.options import console, emit_json
from swarm_celery.ports import RecordReader

EVENTS = 8


@click.command()
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.2, 3600), help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Draw one frame and exit (for scripts; no keyboard).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per refresh (overview, drones, events), one per line.")
def monitor(interval: float, once: bool, as_json: bool) -> None:
    """Watch the swarm live: each running session's progress and ETA, each drone's builds (elapsed vs expected), the latest events.

    q (or Ctrl-C) quits.
    """
    queries = read_queries()
    if as_json:
        _json_lines(queries, interval, once)
        return
    out = console()
    if once:
        out.print(_draw(queries, interval))
        return
    with _keys() as pressed, Live(_draw(queries, interval), console=out, auto_refresh=False, screen=out.is_terminal) as live:
        while not pressed(interval):
            live.update(_redraw(queries, interval), refresh=True)


def _draw(queries: RecordReader, interval: float) -> RenderableType:
    return frame(queries.overview(limit=5), queries.fleet(), queries.events(None, EVENTS), interval)


def _redraw(queries: RecordReader, interval: float) -> RenderableType:
    """The next frame; a record that does not answer for a moment (a restart, a lock) is said, and asked again next time."""
    try:
        return _draw(queries, interval)
    except Exception as exc:  # a live view outlives a transient error; the first frame (above) shows a lasting one
        return Text(f"cannot read the record right now ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                    f"trying again in {interval:g} s — q quits", style="bold red")


def _json_lines(queries: RecordReader, interval: float, once: bool) -> None:
    while True:
        emit_json({"overview": queries.overview(limit=5).to_json(), "drones": [d.name for d in queries.fleet()],
                   "events": [{"ts": e.ts, "kind": e.kind, "subject": e.subject, "message": e.message} for e in queries.events(None, EVENTS)]})
        if once:
            return
        sys.stdout.flush()
        time.sleep(interval)


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], bool]]:
    """A function that waits up to N seconds and says whether q was pressed (stdin in cbreak mode while inside)."""
    if not sys.stdin.isatty():
        def wait(seconds: float) -> bool:
            time.sleep(seconds)
            return False

        yield wait
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def pressed(seconds: float) -> bool:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready) and b"q" in os.read(fd, 32).lower()

    try:
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
