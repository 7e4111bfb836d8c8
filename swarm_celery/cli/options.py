"""Options shared by commands that resolve a world (`demo`, `resolve`) and JSON output helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve.inputs import DEFAULT_GENTOO_REPO, build_request, check_repo, default_profile, read_baseline, read_world
from swarm_celery.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


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
    """The ResolveRequest and a one-line description of which tree it uses."""
    chosen = list(repos)
    tree = ""
    if not chosen and os.environ.get("SWARM_REPO"):
        chosen = [Path(os.environ["SWARM_REPO"])]
    if not chosen and DEFAULT_GENTOO_REPO.is_dir():
        chosen = [DEFAULT_GENTOO_REPO]
    if chosen:
        chosen = [check_repo(p) for p in chosen]  # a missing --repo is named before anything else
        world = read_world(world_file) if world_file else read_world(Path("/var/lib/portage/world"))
        tree = "Gentoo tree " + ", ".join(str(p) for p in chosen)
    else:
        from swarm_celery.resolve.synthetic import SYNTHETIC_REPO_NAME, synthetic_world, write_synthetic_repo

        synthetic = write_synthetic_repo(settings.home / "synthetic-repo")
        chosen = [synthetic]
        world = read_world(world_file) if world_file else tuple(synthetic_world())
        tree = f"the shipped synthetic tree ::{SYNTHETIC_REPO_NAME} (no --repo, no SWARM_REPO, no /var/db/repos/gentoo)"
    baseline = read_baseline(baseline_file, chosen) if baseline_file is not None else ()
    request = build_request(chosen, gentoo_profile or default_profile(arch), arch, tuple(world), portage_config, baseline)
    return request, tree


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, indent=None, sort_keys=False, default=str))
