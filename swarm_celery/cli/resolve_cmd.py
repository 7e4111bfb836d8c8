"""`build-swarm resolve`: the plan portage gives for a world, without building anything."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from swarm_celery import bootstrap
from swarm_celery.cli.options import emit_json, request_from_options, world_options
from swarm_celery.domain.graph import dispatch_gates, waves
from swarm_celery.resolve.adapter import plan_to_json
from swarm_celery.settings import Settings


@click.command()
@world_options
@click.option("--allow-missing", is_flag=True, help="Drop world atoms that match no ebuild instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def resolve(repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None, gentoo_profile: str | None,
            arch: str, allow_missing: bool, as_json: bool) -> None:
    """Resolve @world with real portage (--emptytree) into a build plan."""
    settings = Settings.from_env().with_(arch=arch)
    request, tree = request_from_options(settings, repos, world_file, portage_config, gentoo_profile, arch)
    console = Console(stderr=True, quiet=as_json)
    started = time.perf_counter()
    with console.status(f"resolving {len(request.world)} atoms with portage against {tree}"):
        plan = bootstrap.resolver(settings).resolve(request, allow_missing=allow_missing)
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json(plan_to_json(plan) | {"seconds": round(elapsed, 2)})
        return
    levels = waves(dispatch_gates(plan), plan.merge_order)
    out = Console()
    out.print(f"{len(plan.packages)} packages in {elapsed:.1f} s (config {plan.config_hash}, baseline {len(plan.baseline)} packages)")
    out.print(f"{len(levels)} dispatch waves, {len(levels[0]) if levels else 0} packages ready at once; "
              f"{len(plan.dropped_edges)} edges dropped as portage's cycle breaks")
    for pkg in plan.packages:
        out.print(f"  {pkg.cpv}::{pkg.repo}  slot {pkg.slot}/{pkg.sub_slot}  build deps {len(pkg.build_deps)}", highlight=False)
