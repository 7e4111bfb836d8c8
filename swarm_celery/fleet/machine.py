"""Read a user-mode build profile's machine over SSH: its world file and the portage configuration files
the resolver uses (the :class:`~swarm_celery.ports.MachineFiles` port).

One command: the files that exist under the machine's root go into a tar (symlinks followed), base64 on
stdout. The answer is read in memory — nothing from the machine is written here — and only the world file
and the ``etc/portage`` names the resolver knows are taken, the way the local reader takes them: a
``package.*`` directory's files (not hidden, not nested) joined in name order.
"""

from __future__ import annotations

import base64
import binascii
import io
import shlex
import tarfile
from collections.abc import Mapping

from swarm_celery.domain.build_config import CONFIG_FILE_NAMES
from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.profiles import PORTAGE_DIR, WORLD_FILE, MachineConfig
from swarm_celery.errors import ConfigError, RemoteError
from swarm_celery.ports import RemoteShell
from swarm_celery.resolve.inputs import config_files

MAX_BYTES = 16 * 1024 * 1024  # a world and /etc/portage are kilobytes; more is not what was asked for
NO_ROOT = 3  # the command's exit status when the root is not there


def read_command(root: str) -> str:
    """The one command that reads a machine: from its root, each file the resolver reads (a package.* directory's own
    files one by one) whose real path stays inside the root — a symbolic link out of it is left out — as a tar, at most
    MAX_BYTES of it, base64 on stdout."""
    names = " ".join(shlex.quote(n) for n in (WORLD_FILE, *(f"{PORTAGE_DIR}/{n}" for n in CONFIG_FILE_NAMES)))
    inside = 'case "$(readlink -f "$1")" in "$top"/*) printf \'%s\\n\' "$1";; esac'
    return (f"cd {shlex.quote(root)} 2>/dev/null || exit {NO_ROOT}; top=$(pwd -P); top=${{top%/}}; "
            f"keep() {{ {inside}; }}; "
            f'for f in {names}; do if [ -d "$f" ]; then for g in "$f"/*; do [ -f "$g" ] && keep "$g"; done; '
            f'elif [ -f "$f" ]; then keep "$f"; fi; done | tar -chf - -T - | head -c {MAX_BYTES + 1} | base64')


def decode(output: str, where: str) -> MachineConfig:
    """The command's answer → the world text and the configuration files; a ConfigError when it is not that."""
    try:
        raw = base64.b64decode("".join(output.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: its answer is not the archive asked for (does its shell print a banner or "
                          "lack tar and base64?)") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where}: its world and /etc/portage came to {len(raw) // 1024} KiB, over "
                          f"{MAX_BYTES // 1024 // 1024} MiB: check what etc/portage/package.* holds there")
    world: str | None = None
    parts: dict[str, list[tuple[str, str]]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if not (member.isfile() or member.islnk()) or not (name == WORLD_FILE or name.startswith(PORTAGE_DIR + "/")):
                    continue
                text = _text(archive, member, f"{where}: {name}")
                if name == WORLD_FILE:
                    world = text
                    continue
                top, _, child = name.removeprefix(PORTAGE_DIR + "/").partition("/")
                if "/" not in child:  # a package.* directory's own files, as the local reader takes them
                    parts.setdefault(top, []).append((child, text))
    except tarfile.TarError as exc:
        raise ConfigError(f"{where}: its answer is not a readable archive ({exc})") from None
    return MachineConfig(world, config_files(parts))


def _text(archive: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> str:
    handle = archive.extractfile(member)
    try:
        return handle.read().decode() if handle is not None else ""
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not text (UTF-8): fix or remove it on the machine") from None


class SshMachineFiles:
    def __init__(self, shell: RemoteShell, hosts: Mapping[str, DroneHost], inventory: str, timeout: float = 30.0) -> None:
        self.shell = shell
        self.hosts = dict(hosts)
        self.inventory = inventory  # where the hosts came from, for messages ("" = no SWARM_FLEET_FILE)
        self.timeout = timeout

    def read(self, host: str, root: str) -> MachineConfig:
        entry = self.hosts.get(host)
        if entry is None:
            where = f"the fleet inventory {self.inventory}" if self.inventory else "a fleet inventory (SWARM_FLEET_FILE is unset)"
            raise ConfigError(f"no host named {host!r} in {where}: add a [machines.{host}] table with host = \"...\", "
                              "or point the profile at another with --machine-host")
        try:
            code, out, err = self.shell.run(entry, read_command(root), self.timeout)
        except RemoteError as exc:
            raise ConfigError(f"cannot read machine {host} over SSH: {exc}") from None
        if code == NO_ROOT:
            raise ConfigError(f"machine {host}: its root {root} does not exist there: fix it with --machine PATH")
        if code != 0:
            raise ConfigError(f"machine {host}: reading {root} failed (exit {code}): {err.strip()[-300:] or 'no message'}")
        return decode(out, f"machine {host}")
