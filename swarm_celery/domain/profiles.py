"""Build profiles: a named build configuration the swarm keeps and builds again and again.

Two modes:

* **distribution** — a curated world kept in the profile itself (its atoms), with an optional
  portage configuration directory (make.conf, package.use, ...): what a distribution's
  binhost publishes;
* **user** — the world file and ``/etc/portage`` of one machine, read from its root each time
  the profile is synced, so the binhost follows what that machine has installed: a local
  path (a mount, an rsync copy, or ``/`` itself), or over SSH a host of the fleet inventory
  (``machine_host``; ``machine_root`` is then the root on that host, ``/`` by default).

A profile names its repositories (the main tree first), Gentoo profile and arch; with
``auto_rebuild`` the tree watcher re-resolves it whenever the tree changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from swarm_celery.domain.config import check_atom_shape

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a table name of the fleet inventory
ARCHES = ("amd64", "arm64")
WORLD_FILE = "var/lib/portage/world"  # of a machine's root, in user mode
PORTAGE_DIR = "etc/portage"


class Mode(StrEnum):
    DISTRIBUTION = "distribution"
    USER = "user"


@dataclass(frozen=True, slots=True)
class BuildProfile:
    name: str
    mode: Mode
    arch: str
    gentoo_profile: str  # e.g. default/linux/amd64/23.0/systemd
    repos: tuple[str, ...]  # absolute paths; the first is the main tree
    world: tuple[str, ...] = ()  # distribution mode: the curated world
    portage_config: str = ""  # distribution mode: a directory with make.conf, package.use, ... ("" for none)
    machine_root: str = ""  # user mode: the machine's root (its var/lib/portage/world and etc/portage are read)
    machine_host: str = ""  # user mode over SSH: a [machines.NAME] or [drones.NAME] of the fleet inventory ("" = local)
    auto_rebuild: bool = False
    description: str = field(default="", compare=False)

    def validated(self) -> BuildProfile:
        """This profile, or ValueError with one line naming what is wrong and how to fix it."""
        if not NAME.match(self.name):
            raise ValueError(f"profile name {self.name!r} is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        if self.arch not in ARCHES:
            raise ValueError(f"arch {self.arch!r} is not supported: use one of {', '.join(ARCHES)}")
        if not self.repos:
            raise ValueError("a profile needs at least one repository: pass --repo PATH (the main tree first)")
        if not self.gentoo_profile:
            raise ValueError(f"a profile needs a Gentoo profile: pass --gentoo-profile (e.g. default/linux/{self.arch}/23.0/systemd)")
        if self.mode is Mode.DISTRIBUTION:
            self._check_distribution()
        else:
            self._check_user()
        return self

    def _check_distribution(self) -> None:
        if self.machine_root or self.machine_host:
            raise ValueError("a distribution profile keeps its own world: --machine and --machine-host are for user mode "
                             "(--mode user)")
        if not self.world:
            raise ValueError("a distribution profile needs its world: pass --atom ATOM (repeatable) or --world FILE")
        for atom in self.world:
            check_atom_shape(atom)

    def _check_user(self) -> None:
        if not self.machine_root and not self.machine_host:
            raise ValueError("a user profile reads a machine's world and /etc/portage: pass --machine PATH (its root), or "
                             "--machine-host NAME (a host of the fleet inventory, read over SSH)")
        if self.machine_host and not HOST_NAME.match(self.machine_host):
            raise ValueError(f"machine host {self.machine_host!r} is not a name of the fleet inventory: use its "
                             "[machines.NAME] or [drones.NAME]")
        if self.machine_root and not self.machine_root.startswith("/"):
            raise ValueError(f"machine root {self.machine_root!r} should be an absolute path")
        if self.world or self.portage_config:
            raise ValueError("a user profile takes its world and portage configuration from --machine, not from "
                             "--atom/--world/--portage-config")

    def with_changes(self, **changes: object) -> BuildProfile:
        return replace(self, **changes).validated()  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "mode": self.mode.value, "arch": self.arch, "gentoo_profile": self.gentoo_profile,
                "repos": list(self.repos), "world": list(self.world), "portage_config": self.portage_config,
                "machine_root": self.machine_root, "machine_host": self.machine_host, "auto_rebuild": self.auto_rebuild, "description": self.description}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BuildProfile:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, [])
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(name=str(data["name"]), mode=Mode(str(data["mode"])), arch=str(data["arch"]),
                   gentoo_profile=str(data["gentoo_profile"]), repos=strings("repos"), world=strings("world"),
                   portage_config=str(data.get("portage_config", "")), machine_root=str(data.get("machine_root", "")),
                   machine_host=str(data.get("machine_host", "")),
                   auto_rebuild=bool(data.get("auto_rebuild", False)), description=str(data.get("description", "")))


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """What a user-mode profile reads from its machine: the world file's text (None: it has none) and the portage
    configuration files, each ``(name, text)`` (a ``package.*`` directory's files joined in name order)."""

    world: str | None
    files: tuple[tuple[str, str], ...] = ()


__all__ = ["ARCHES", "PORTAGE_DIR", "WORLD_FILE", "BuildProfile", "MachineConfig", "Mode"]
