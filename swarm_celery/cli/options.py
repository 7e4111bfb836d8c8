"""What every command shares: the invocation's settings (read once), world options, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from swarm_celery import bootstrap
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.errors import NotFoundError, UserError
from swarm_celery.ports import RecordReader
from swarm_celery.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
JSON_HELP = "Print JSON instead of text (the fields the API serves; for scripts)."
PIPED_WIDTH = 400  # columns when the output is not a terminal: whole lines and table cells, never cut at 80


def console(stderr: bool = False, quiet: bool = False) -> Console:
    """A rich console for this command's output: the terminal's width, or (piped, redirected) wide enough for whole lines."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, quiet=quiet, width=None if stream.isatty() else PIPED_WIDTH)


def session_id(queries: RecordReader, given: str | None) -> str:
    """The session ``given`` names (a whole id or the start of one), else the newest; one line of error otherwise."""
    if not given:
        newest = queries.latest_session()
        if not newest:
            raise NotFoundError("no sessions yet: start one with `build-swarm demo` or `build-swarm queue add`")
        return newest
    found = queries.session_ids(given.lower(), limit=6)
    if not found:
        raise NotFoundError(f"no session starts with {given[:40]}; `build-swarm sessions` lists them")
    if len(found) > 1 and given.lower() not in found:
        shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
        raise UserError(f"{given} names {len(found) if len(found) < 6 else 'several'} sessions ({shown}): give more of the id")
    return given.lower() if given.lower() in found else found[0]


@dataclass
class Invocation:
    """One run of the command: ``--debug``, the environment it started with, and the settings read from it once."""

    debug: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env(self.environ)
        return self._settings

    def settings_with(self, values: Mapping[str, str]) -> Settings:
        """These settings with the environment laid over them (a drone's drone.conf, then its environment)."""
        self._settings = Settings.from_env({**values, **self.environ})
        return self._settings


def invocation() -> Invocation:
    """The running command's invocation (a command run on its own, as tests do, gets a fresh one)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Invocation) if ctx is not None else None
    if found is None:
        found = Invocation()
        if ctx is not None:
            ctx.find_root().obj = found
    return found


def current_settings() -> Settings:
    return invocation().settings


def world_options(func: F) -> F:
    options = [
        click.option("--repo", "repos", multiple=True, type=click.Path(path_type=Path),
                     help="Ebuild repository (main first, then overlays). Default: $SWARM_REPO, /var/db/repos/gentoo, or the shipped synthetic tree."),
        click.option("--world", "world_file", type=click.Path(path_type=Path), help="World file: one atom per line."),
        click.option("--portage-config", type=click.Path(path_type=Path), help="Directory with make.conf, package.use, package.accept_keywords, ..."),
        click.option("--gentoo-profile", default=None, help="Profile path under profiles/ (default: default/linux/<arch>/23.0/systemd)."),
        click.option("--arch", default="amd64", show_default=True, type=click.Choice(["amd64", "arm64"])),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def baseline_option(func: F) -> F:
    return click.option(
        "--baseline", "baseline_file", type=click.Path(path_type=Path), metavar="FILE",
        help='The drones\' installed packages instead of the profile\'s @system: `qlist -IRv` output, one '
             'category/package-version[:slot][::repo] [USE="flags"] per line, or a JSON list of {"cpv", "slot", "repo", "use"}.',
    )(func)


def request_from_options(settings: Settings, repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None,
                         gentoo_profile: str | None, arch: str, baseline_file: Path | None = None) -> tuple[ResolveRequest, str]:
    """The ResolveRequest of the world options, and a one-line description of which tree it uses."""
    return bootstrap.request_from_options(settings, repos, world_file, portage_config, gentoo_profile, arch, baseline_file)


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, indent=None, sort_keys=False, default=str))
