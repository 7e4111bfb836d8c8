"""`build-swarm history`: a session's attempts; `build-swarm history import emerge.log`: builds done elsewhere."""

from __future__ import annotations

import statistics
from pathlib import Path

import click
from rich.table import Table

from swarm_celery import bootstrap
from swarm_celery.cli.inspect_cmd import clock_time, read_queries, session_or_newest, whole
from swarm_celery.cli.options import JSON_HELP, console, current_settings, emit_json
from swarm_celery.domain.emerge_log import parse_emerge_log
from swarm_celery.domain.scheduling import history_key
from swarm_celery.domain.views import as_json as views_json
from swarm_celery.errors import ConfigError

MAX_LOG_BYTES = 512 << 20  # emerge.log grows forever, but half a gigabyte is decades of builds


@click.group(invoke_without_command=True)
@click.option("--session", default=None, help="Session id, or the start of one (default: the newest).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
def history(ctx: click.Context, session: str | None, as_json: bool) -> None:
    """Every attempt of a session: package, drone, state, timestamps (`history import` adds builds done elsewhere)."""
    if ctx.invoked_subcommand:
        return
    queries = whole(read_queries())
    rows = queries.history(session_or_newest(queries, session))
    if as_json:
        emit_json(views_json(rows))
        return
    table = Table("cpv", "drone", "state", "outcome", "dispatched", "started", "finished")
    for r in rows:
        table.add_row(r.cpv, r.drone or "-", r.state, r.outcome or "-", clock_time(r.dispatched_at), clock_time(r.started_at),
                      clock_time(r.finished_at))
    console().print(table)


@history.command(name="import")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def import_(logs: tuple[Path, ...], as_json: bool) -> None:
    """Import build times from portage's emerge.log files (e.g. /var/log/emerge.log of each machine).

    The scheduler weighs each package by the median of its recorded builds before the shipped table;
    importing a file again adds nothing.
    """
    store = bootstrap.store(current_settings())
    report = []
    for path in logs:
        parsed = parse_emerge_log(_read(path))
        added = store.import_history(parsed.builds, str(path.resolve()))
        packages = {history_key(b.cpv) for b in parsed.builds}
        report.append({"file": str(path), "builds": len(parsed.builds), "new": added, "packages": len(packages),
                       "binary_merges": parsed.binary_merges, "unfinished": parsed.unfinished, "unreadable_lines": parsed.unreadable,
                       "median_seconds": statistics.median(b.seconds for b in parsed.builds) if parsed.builds else 0})
    if as_json:
        emit_json(report)
        return
    for r in report:
        click.echo(f"{r['file']}: {r['builds']} builds of {r['packages']} packages ({r['new']} new; median {r['median_seconds']:.0f} s); "
                   f"left out: {r['binary_merges']} binary merges, {r['unfinished']} unfinished builds, "
                   f"{r['unreadable_lines']} unreadable lines")


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_LOG_BYTES:
            raise ConfigError(f"{path} is {size >> 20} MiB; split it (e.g. by year with awk) into files under {MAX_LOG_BYTES >> 20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}; give the path of an emerge.log (usually /var/log/emerge.log)") from None
    if b":  >>> emerge (" not in data and b"Started emerge on" not in data:
        raise ConfigError(f"{path} does not look like portage's emerge.log (no '>>> emerge (' lines); nothing imported")
    return data.decode("utf-8", errors="replace")
