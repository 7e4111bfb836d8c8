"""`build-swarm queue add`: queue a world (a whole set, or a few atoms) on a running swarm."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, baseline_option, current_settings, emit_json, request_from_options, world_options
from swarm_celery.domain.config import check_atom_shape
from swarm_celery.errors import UserError


@click.command(name="add")
@world_options
@baseline_option
@click.argument("atoms", nargs=-1)
@click.option("--priority", default=0, show_default=True, type=click.IntRange(-100, 100),
              help="Operator priority: every package of this session goes before lower-priority work, whatever its critical path.")
@click.option("--rebuild", is_flag=True,
              help="Build every package, even those the binhost holds already with the same identity (skipped otherwise).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def queue_add(repos: tuple[Path, ...], world_file: Path | None, portage_config: Path | None, gentoo_profile: str | None, arch: str,
              baseline_file: Path | None, atoms: tuple[str, ...], priority: int, rebuild: bool, as_json: bool) -> None:
    """Queue ATOMS (or --world FILE) for building; the coordinator resolves, plans and dispatches it.

    \b
    build-swarm queue add --repo /var/db/repos/gentoo app-editors/vim --priority 10
    """
    settings = current_settings()
    try:
        for atom in atoms:
            check_atom_shape(atom)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if atoms and world_file is None:
        with tempfile.TemporaryDirectory() as tmp:  # the atoms as a world file, read (and validated) like any other
            world = Path(tmp) / "world"
            world.write_text("".join(f"{atom}\n" for atom in atoms))
            request, tree = request_from_options(settings, repos, world, portage_config, gentoo_profile, arch, baseline_file)
    else:
        request, tree = request_from_options(settings, repos, world_file, portage_config, gentoo_profile, arch, baseline_file)
    session_id = bootstrap.session_queue(settings).queue(request, priority=priority, reuse=not rebuild)
    if as_json:
        emit_json({"session": session_id, "atoms": list(request.world), "priority": priority, "arch": request.arch, "rebuild": rebuild})
    else:
        click.echo(f"queued session {session_id}: {len(request.world)} atoms from {tree}, priority {priority}; "
                   f"follow it with `build-swarm status --session {session_id}`")
