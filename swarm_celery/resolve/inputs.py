"""Turn the user's paths (repositories, world file, /etc/portage-like directory) into a ResolveRequest.

Every problem is a :class:`~swarm_celery.errors.ConfigError` naming the path and what to do.
Nothing here imports portage: atoms are validated by portage's parser in the resolver subprocess.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from swarm_celery.domain.baseline import InstalledPackage, parse_baseline
from swarm_celery.domain.build_config import CONFIG_FILE_NAMES
from swarm_celery.domain.config import DEFAULT_GENTOO_REPO as GENTOO_TREE
from swarm_celery.domain.config import ResolveRequest, default_profile, foreign_keywords, is_atom_shaped, parse_world
from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.profiles import PORTAGE_DIR, WORLD_FILE, BuildProfile, Mode
from swarm_celery.errors import ConfigError
from swarm_celery.ports import MachineFiles
from swarm_celery.resolve.root import repo_name

DEFAULT_GENTOO_REPO = Path(GENTOO_TREE)
WORLD_BYTES = 4 << 20  # a world file of 100,000 atoms is about 3 MiB
CONFIG_BYTES = 4 << 20  # one make.conf or package.* file
TEXT_BYTES = 16 << 20  # any other text file a user names (a baseline, a saved plan)


def check_repo(path: Path) -> Path:
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise ConfigError(f"repository {path} does not exist: pass an ebuild repository with --repo (or set SWARM_REPO)")
    if not (resolved / "profiles" / "repo_name").is_file() and not (resolved / "metadata" / "layout.conf").is_file():
        raise ConfigError(f"{path} is not an ebuild repository (no profiles/repo_name or metadata/layout.conf)")
    return resolved


def read_config_dir(path: Path, within: Path | None = None) -> tuple[tuple[str, str], ...]:
    """make.conf and package.* files (or directories of files, concatenated in name order); with ``within`` (a machine's
    root) a file whose real path leaves it is refused, whatever symlink leads there."""
    directory = path.expanduser()
    if not directory.is_dir():
        raise ConfigError(f"portage config directory {path} does not exist: pass a directory holding make.conf, package.use, ...")
    parts: dict[str, list[tuple[str, str]]] = {}
    for name in CONFIG_FILE_NAMES:
        entry = directory / name
        if entry.is_file():
            parts[name] = [("", read_bounded(entry, CONFIG_BYTES, within))]
        elif entry.is_dir():
            parts[name] = [(p.name, read_bounded(p, CONFIG_BYTES, within)) for p in sorted(entry.iterdir())
                           if p.is_file() and not p.name.startswith(".")]
    return config_files(parts)


def read_bounded(path: Path, limit: int, within: Path | None = None, what: str = "") -> str:
    """A text file from outside (a user's, a machine's): a regular file of at most ``limit`` bytes, inside ``within`` when
    given; a ConfigError naming the path (as ``what`` when given) otherwise. Nothing of its content is ever put in the
    message."""
    named = f"{what} {path}" if what else str(path)
    if within is not None and not os.path.realpath(path).startswith(os.path.realpath(within).rstrip("/") + "/"):
        raise ConfigError(f"{named} leads outside the machine root {within} (a symbolic link?): refused; make it a file there")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the reader
    except OSError as exc:
        raise ConfigError(f"cannot read {named}: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{named} is not a regular file (a device, a FIFO?): pass a file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{named} is over {limit // 1024} KiB: that is not what a world or a portage configuration file holds")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{named} is not text (UTF-8): fix it or pass another file") from None


def config_files(parts: Mapping[str, Sequence[tuple[str, str]]]) -> tuple[tuple[str, str], ...]:
    """The resolver's configuration files from what a config directory holds: for each known name, a file
    (``("", text)``) or a directory's files (``(file name, text)``, hidden ones skipped) joined in name order."""
    joined = []
    for name in CONFIG_FILE_NAMES:
        if name in parts:
            texts = [text for child, text in sorted(parts[name]) if not child.startswith(".")]
            joined.append((name, "\n".join(texts)))
    return tuple(joined)


def read_text(path: Path, what: str, fix: str, limit: int = TEXT_BYTES) -> str:
    """A text file the user named, or a ConfigError: "cannot read <what> <path>: <why>; <fix>"."""
    try:
        return read_bounded(path.expanduser(), limit, what=what)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {fix}") from None


def read_world(path: Path, within: Path | None = None) -> tuple[str, ...]:
    if within is not None:
        return world_atoms(read_bounded(path, WORLD_BYTES, within), str(path))
    return world_atoms(read_text(path, "the world file", "pass one atom per line with --world", WORLD_BYTES), str(path))


def world_atoms(text: str, where: str) -> tuple[str, ...]:
    """A world file's atoms, each of an atom's shape; a ConfigError naming ``where`` and the line (never its text) when one is
    not, or when it lists none."""
    atoms = parse_world(text)
    bad = next((number for number, atom in enumerate(atoms, 1) if not is_atom_shaped(atom)), 0)
    if bad:
        raise ConfigError(f"the world file {where}: entry {bad} is not a package atom (category/package, one per line); fix it there")
    if not atoms:
        raise ConfigError(f"the world file {where} lists no atoms: add one atom per line (e.g. app-misc/tmux)")
    return atoms


def read_baseline(path: Path, repos: Sequence[Path]) -> tuple[InstalledPackage, ...]:
    """An explicit baseline file (:mod:`swarm_celery.domain.baseline`), each package checked against ``repos``."""
    text = read_text(path, "the baseline file", "pass `qlist -IRv` output (or JSON) with --baseline")
    try:
        entries = parse_baseline(text)
    except ValueError as exc:
        raise ConfigError(f"baseline {path}, {exc}") from None
    by_name = {repo_name(r): r for r in repos}
    for entry in entries:
        pkg, label = entry.package, f"baseline {path}, {entry.where}"
        if pkg.repo and pkg.repo not in by_name:
            raise ConfigError(f"{label}: repository {pkg.repo!r} of {pkg.cpv} is not among the repositories "
                              f"({', '.join(by_name)}): add it with --repo, or drop ::{pkg.repo}")
        category, pf = pkg.cpv.split("/", 1)
        holders = [by_name[pkg.repo]] if pkg.repo else list(by_name.values())
        if not any((r / category / split_cpv(pkg.cpv).package / f"{pf}.ebuild").is_file() for r in holders):
            searched = pkg.repo or ", ".join(by_name)
            raise ConfigError(f"{label}: no repository has an ebuild of {pkg.cpv} (searched {searched}): "
                              "fix the version to one the repositories have, or add the overlay holding it with --repo")
    return tuple(entry.package for entry in entries)


def build_request(
    repos: Sequence[Path], profile: str, arch: str, world: Sequence[str], config_dir: Path | None,
    baseline: tuple[InstalledPackage, ...] = (),
) -> ResolveRequest:
    checked = _checked_repos(repos, profile)
    files = read_config_dir(config_dir) if config_dir else ()
    return _request(checked, profile, arch, world, files, str(config_dir) if config_dir else "", baseline)


def _checked_repos(repos: Sequence[Path], profile: str) -> tuple[str, ...]:
    checked = tuple(str(check_repo(r)) for r in repos)
    if not checked:
        raise ConfigError("no repository: pass --repo PATH (or set SWARM_REPO)")
    profile_dir = Path(checked[0]) / "profiles" / profile
    if not profile_dir.is_dir():
        raise ConfigError(f"Gentoo profile {profile!r} does not exist in {checked[0]}/profiles: check --gentoo-profile")
    return checked


def _request(repos: tuple[str, ...], profile: str, arch: str, world: Sequence[str], files: tuple[tuple[str, str], ...],
             config_label: str, baseline: tuple[InstalledPackage, ...] = ()) -> ResolveRequest:
    foreign = foreign_keywords(dict(files).get("make.conf", ""), arch)
    if foreign:
        raise ConfigError(f"{config_label}/make.conf accepts {' '.join(foreign)} in ACCEPT_KEYWORDS, but this is an {arch} "
                          f"resolve: use a portage configuration for {arch} (ACCEPT_KEYWORDS=\"{arch}\" or \"~{arch}\")")
    return ResolveRequest(repos=repos, gentoo_profile=profile, arch=arch, world=tuple(world), portage_config=config_label,
                          config_files=files, baseline=baseline)


def request_for_profile(profile: BuildProfile, machines: MachineFiles | None = None) -> ResolveRequest:
    """The ResolveRequest of a build profile now: its own world (distribution), or the world file and /etc/portage
    read from the machine's root (user; read at every sync, so the plan follows the machine) — a local path, or
    over SSH a host of the fleet inventory (``machines`` reads it)."""
    repos = [Path(r) for r in profile.repos]
    if profile.mode is Mode.DISTRIBUTION:
        config = Path(profile.portage_config) if profile.portage_config else None
        return build_request(repos, profile.gentoo_profile, profile.arch, profile.world, config)
    if profile.machine_host:
        return _remote_request(profile, repos, machines)
    root = Path(profile.machine_root)
    if not root.is_dir():
        raise ConfigError(f"profile {profile.name}: the machine root {root} does not exist; mount or copy the machine "
                          f"there, or point the profile elsewhere with `build-swarm profile edit {profile.name} --machine PATH`")
    world = read_world(root / WORLD_FILE, within=root)
    config = root / PORTAGE_DIR
    checked = _checked_repos(repos, profile.gentoo_profile)
    files = read_config_dir(config, within=root) if config.is_dir() else ()
    return _request(checked, profile.gentoo_profile, profile.arch, world, files, str(config) if config.is_dir() else "")


def _remote_request(profile: BuildProfile, repos: Sequence[Path], machines: MachineFiles | None) -> ResolveRequest:
    root = profile.machine_root or "/"
    base = f"{profile.machine_host}:{root.rstrip('/')}"  # where its files are, for messages: host:/root/...
    if machines is None:
        raise ConfigError(f"profile {profile.name} reads machine {profile.machine_host} over SSH, and nothing here can: "
                          "run it where SWARM_FLEET_FILE names that host")
    checked = _checked_repos(repos, profile.gentoo_profile)
    found = machines.read(profile.machine_host, root)
    world_path = f"{base}/{WORLD_FILE}"
    if found.world is None:
        raise ConfigError(f"profile {profile.name}: machine {profile.machine_host} has no {world_path}: is {root} its root "
                          "(fix it with --machine PATH)?")
    atoms = world_atoms(found.world, world_path)
    return _request(checked, profile.gentoo_profile, profile.arch, atoms, found.files, f"{base}/{PORTAGE_DIR}")


__all__ = ["DEFAULT_GENTOO_REPO", "build_request", "check_repo", "config_files", "default_profile", "read_baseline", "read_config_dir",
           "read_text", "read_world", "request_for_profile", "world_atoms"]
