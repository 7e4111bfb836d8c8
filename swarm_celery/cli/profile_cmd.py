"""`build-swarm profile create|list|show|edit|delete|sync` and `build-swarm fresh --profile`: named build configurations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from swarm_celery import bootstrap
from swarm_celery.cli.options import JSON_HELP, current_settings, emit_json
from swarm_celery.cli.sync_view import follow_sync
from swarm_celery.domain.config import default_profile
from swarm_celery.domain.profiles import ARCHES, BuildProfile, Mode
from swarm_celery.errors import UserError
from swarm_celery.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def profile_options(func: F) -> F:
    options = [
        click.option("--repo", "repos", multiple=True, type=click.Path(path_type=Path),
                     help="Ebuild repository (main first, then overlays). Default: $SWARM_REPO or /var/db/repos/gentoo."),
        click.option("--gentoo-profile", default=None, help="Profile path under profiles/ (default: default/linux/<arch>/23.0/systemd)."),
        click.option("--atom", "atoms", multiple=True, help="Distribution mode: a world atom (repeatable; replaces the world)."),
        click.option("--world", "world_file", type=click.Path(path_type=Path), help="Distribution mode: the world from a file."),
        click.option("--portage-config", type=click.Path(path_type=Path), help="Distribution mode: make.conf, package.use, ... directory."),
        click.option("--machine", type=click.Path(path_type=Path), help="User mode: the machine's root (var/lib/portage/world, etc/portage)."),
        click.option("--machine-host", default=None, help="User mode over SSH: a [machines.NAME] or [drones.NAME] of SWARM_FLEET_FILE "
                                                          "(--machine is then the root there, default /; --machine-host '' for local)."),
        click.option("--auto-rebuild/--no-auto-rebuild", default=None, help="Re-resolve and build the changes when the tree changes."),
        click.option("--description", default=None),
        click.option("--json", "as_json", is_flag=True, help=JSON_HELP),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def profile() -> None:
    """Build profiles: named configurations the swarm builds again and again (distribution or user mode)."""


@profile.command(name="create")
@click.argument("name")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), default=Mode.DISTRIBUTION.value, show_default=True)
@click.option("--arch", default="amd64", show_default=True, type=click.Choice(ARCHES))
@profile_options
def create(name: str, mode: str, arch: str, **options: Any) -> None:
    """Create profile NAME; its inputs are read once now, so a mistake shows at once.

    \b
    build-swarm profile create desktop --atom app-editors/vim --atom www-client/firefox --auto-rebuild
    build-swarm profile create laptop --mode user --machine /mnt/laptop
    build-swarm profile create laptop --mode user --machine-host laptop       # over SSH, [machines.laptop]
    """
    as_json = options.pop("as_json")
    settings = current_settings()
    base = BuildProfile(name, Mode(mode), arch, "", ())
    built = _checked(_apply(base, **options), settings)
    if not bootstrap.store(settings).save_profile(built, create=True):
        raise UserError(f"profile {name} exists already: change it with `build-swarm profile edit {name}`")
    _show(built, as_json, f"created profile {name}")


@profile.command(name="edit")
@click.argument("name")
@click.option("--add", "add", multiple=True, help="Distribution mode: add a world atom (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Distribution mode: remove a world atom (repeatable).")
@profile_options
def edit(name: str, add: tuple[str, ...], remove: tuple[str, ...], **options: Any) -> None:
    """Change profile NAME: only the options given change."""
    as_json = options.pop("as_json")
    settings = current_settings()
    store = bootstrap.store(settings)
    current = _existing(store.get_profile(name), name)
    changed = _apply(current, **options)
    missing = [atom for atom in remove if atom not in changed.world]
    if missing:
        raise UserError(f"{', '.join(missing)} is not in the world of {name}; see `build-swarm profile show {name}`")
    world = tuple(a for a in changed.world if a not in remove) + tuple(a for a in add if a not in changed.world)
    updated = _checked(replace(changed, world=world), settings)
    store.save_profile(updated, create=False)
    _show(updated, as_json, f"changed profile {name}")


@profile.command(name="list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def list_(as_json: bool) -> None:
    """Every build profile."""
    profiles = bootstrap.store(current_settings()).list_profiles()
    if as_json:
        emit_json([p.to_json() for p in profiles])
        return
    for p in profiles:
        inputs = f"{len(p.world)} atoms" if p.mode is Mode.DISTRIBUTION else f"machine {_machine(p)}"
        click.echo(f"{p.name:<20} {p.mode.value:<13} {p.arch:<6} {p.gentoo_profile:<36} {inputs}"
                   + ("  auto-rebuild" if p.auto_rebuild else ""))
    if not profiles:
        click.echo("no build profiles yet: `build-swarm profile create NAME --atom ATOM ...`")


@profile.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def show(name: str, as_json: bool) -> None:
    """One profile in full."""
    _show(_existing(bootstrap.store(current_settings()).get_profile(name), name), as_json, "")


@profile.command(name="delete")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def delete(name: str, as_json: bool) -> None:
    """Forget profile NAME (its sessions and what they published stay)."""
    if not bootstrap.store(current_settings()).delete_profile(name):
        raise UserError(f"no build profile named {name!r}; see `build-swarm profile list`")
    emit_json({"deleted": name}) if as_json else click.echo(f"deleted profile {name}")


@profile.command(name="sync")
@click.argument("name")
@click.option("--full", is_flag=True, help="Build everything, not only what changed since the profile last published.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the plan and show what will be built.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def sync(name: str, full: bool, wait: bool, as_json: bool) -> None:
    """Resolve profile NAME now and queue what changed (by binary-package identity) since it last published."""
    _sync(name, full, wait, as_json)


@click.command()
@click.option("--profile", "name", required=True, help="The build profile.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the plan and show what will be built.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def fresh(name: str, wait: bool, as_json: bool) -> None:
    """Queue the whole plan of a profile, unchanged packages too (`profile sync NAME --full`)."""
    _sync(name, True, wait, as_json)


def _sync(name: str, full: bool, wait: bool, as_json: bool) -> None:
    settings = current_settings()
    done = bootstrap.profile_sync(settings).sync(name, full=full)
    follow_sync(bootstrap.queries(settings) if wait else None, done, as_json)


def _apply(base: BuildProfile, repos: tuple[Path, ...], gentoo_profile: str | None, atoms: tuple[str, ...],
           world_file: Path | None, portage_config: Path | None, machine: Path | None, machine_host: str | None,
           auto_rebuild: bool | None, description: str | None) -> BuildProfile:
    changes: dict[str, Any] = {}
    if repos or not base.repos:
        changes["repos"] = tuple(str(bootstrap.check_repo(r)) for r in (repos or _default_repos()))
    if gentoo_profile or not base.gentoo_profile:
        changes["gentoo_profile"] = gentoo_profile or default_profile(base.arch)
    if atoms and world_file:
        raise UserError("give the world as --atom ATOM ... or as --world FILE, not both")
    if atoms:
        changes["world"] = tuple(dict.fromkeys(atoms))
    elif world_file is not None:
        changes["world"] = bootstrap.read_world(world_file)
    if portage_config is not None:
        changes["portage_config"] = str(portage_config.expanduser().resolve()) if str(portage_config) else ""
    changes |= _machine_changes(base, machine, machine_host)
    for key, value in (("auto_rebuild", auto_rebuild), ("description", description)):
        if value is not None:
            changes[key] = value
    return replace(base, **changes)


def _machine_changes(base: BuildProfile, machine: Path | None, machine_host: str | None) -> dict[str, str]:
    """User mode: the machine's root (over SSH a path on that host, taken as given; here resolved) and host."""
    changes: dict[str, str] = {}
    if machine_host is not None:
        changes["machine_host"] = machine_host
        if machine is None and base.machine_host != machine_host:
            changes["machine_root"] = ""  # a root on one machine means nothing on another
    if machine is not None:
        remote = changes.get("machine_host", base.machine_host)
        changes["machine_root"] = str(machine) if remote else str(machine.expanduser().resolve())
    return changes


def _checked(profile: BuildProfile, settings: Settings) -> BuildProfile:
    """Validated, and its inputs readable now (repositories, Gentoo profile, world, /etc/portage)."""
    try:
        profile.validated()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    bootstrap.profile_requests(settings)(profile)  # ConfigError names what cannot be read (over SSH too)
    return profile


def _default_repos() -> list[Path]:
    repo = current_settings().repo
    if repo is not None:
        return [repo]
    if bootstrap.DEFAULT_GENTOO_REPO.is_dir():
        return [bootstrap.DEFAULT_GENTOO_REPO]
    raise UserError("no repository: pass --repo PATH (the main tree first), or set SWARM_REPO")


def _existing(found: BuildProfile | None, name: str) -> BuildProfile:
    if found is None:
        raise UserError(f"no build profile named {name!r}; see `build-swarm profile list`")
    return found


def _show(p: BuildProfile, as_json: bool, headline: str) -> None:
    if as_json:
        emit_json(p.to_json())
        return
    if headline:
        click.echo(headline)
    click.echo(f"name:           {p.name}\nmode:           {p.mode.value}\narch:           {p.arch}\n"
               f"gentoo profile: {p.gentoo_profile}\nrepositories:   {', '.join(p.repos)}")
    if p.mode is Mode.DISTRIBUTION:
        click.echo(f"world:          {' '.join(p.world)}\nportage config: {p.portage_config or '-'}")
    else:
        click.echo(f"machine:        {_machine(p)}")
    click.echo(f"auto-rebuild:   {'yes' if p.auto_rebuild else 'no'}" + (f"\ndescription:    {p.description}" if p.description else ""))


def _machine(p: BuildProfile) -> str:
    return f"{p.machine_host}:{p.machine_root or '/'} (over SSH)" if p.machine_host else p.machine_root
