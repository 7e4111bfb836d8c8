"""Build configuration as data: everything a resolve depends on, with a stable hash.

A :class:`ResolveRequest` names the repositories, Gentoo profile, arch, the portage
configuration directory (make.conf, package.use, ...), the world atoms and, optionally, an
explicit baseline (:mod:`swarm_celery.domain.baseline`). Its :meth:`~ResolveRequest.config_hash`
is recorded with every plan; the baseline (the drones' installed packages: the explicit list, or
the profile's ``@system``) is cached per :meth:`~ResolveRequest.baseline_hash`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from swarm_celery.domain.baseline import InstalledPackage

DEFAULT_GENTOO_REPO = PurePosixPath("/var/db/repos/gentoo")  # where Gentoo keeps its tree


def default_profile(arch: str) -> str:
    """The Gentoo profile a world is resolved with when none is named."""
    return f"default/linux/{arch}/23.0/systemd"


@dataclass(frozen=True, slots=True)
class ResolveRequest:
    repos: tuple[str, ...]  # absolute paths; the first is the main repository
    gentoo_profile: str  # e.g. default/linux/amd64/23.0/systemd, relative to <main repo>/profiles
    arch: str
    world: tuple[str, ...]
    portage_config: str = ""  # directory holding make.conf, package.use, ... (may be empty)
    config_files: tuple[tuple[str, str], ...] = field(default=())  # (name, content) read from it
    baseline: tuple[InstalledPackage, ...] = ()  # the drones' installed packages; () = the profile's @system

    def to_json(self) -> dict[str, object]:
        return {
            "repos": list(self.repos),
            "gentoo_profile": self.gentoo_profile,
            "arch": self.arch,
            "world": list(self.world),
            "portage_config": self.portage_config,
            "config_files": [list(item) for item in self.config_files],
            "baseline": [p.to_json() for p in self.baseline],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ResolveRequest:
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, [])
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        files = data.get("config_files", [])
        pairs = tuple((str(p[0]), str(p[1])) for p in files if isinstance(p, list) and len(p) == 2) if isinstance(files, list) else ()
        installed = data.get("baseline", [])  # absent in requests stored before explicit baselines
        baseline = tuple(InstalledPackage.from_json(p) for p in installed if isinstance(p, dict)) if isinstance(installed, list) else ()
        return cls(
            repos=strings("repos"),
            gentoo_profile=str(data["gentoo_profile"] if "gentoo_profile" in data else data["profile"]),  # "profile" before 0.2
            arch=str(data["arch"]),
            world=strings("world"),
            portage_config=str(data.get("portage_config", "")),
            config_files=pairs,
            baseline=baseline,
        )

    def baseline_hash(self) -> str:
        """Hash of everything but the world: what the baseline depends on (unchanged for the default @system baseline)."""
        value: dict[str, object] = {"repos": self.repos, "profile": self.gentoo_profile,  # the key stays: hashes must not change
                                     "arch": self.arch, "config": self.config_files}
        if self.baseline:
            value["installed"] = [p.to_json() for p in self.baseline]
        return _digest(value)

    def config_hash(self) -> str:
        """Stable hash of the whole configuration, recorded with every plan."""
        return _digest({"baseline": self.baseline_hash(), "world": sorted(self.world)})


def _digest(value: object) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def parse_world(text: str) -> tuple[str, ...]:
    """World-file lines: one atom per line, ``#`` comments and blank lines ignored, order kept, duplicates dropped (in
    linear time: a machine's world may hold tens of thousands of lines)."""
    atoms: dict[str, None] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            atoms.setdefault(line)
    return tuple(atoms)


_ATOM_SHAPE = re.compile(r"^(?:[<>]=?|=|~|!{1,2})?[A-Za-z0-9_][A-Za-z0-9+_.-]*/[A-Za-z0-9_][A-Za-z0-9+_.*-]*"
                         r"(?::[A-Za-z0-9_*=/.+-]*)?(?:::[A-Za-z0-9_-]+)?(?:\[[A-Za-z0-9_,=!?()+-]+\])?$")


def is_atom_shaped(atom: str) -> bool:
    return len(atom) <= 256 and _ATOM_SHAPE.match(atom) is not None


def check_atom_shape(atom: str) -> str:
    """A quick shape check (portage's own parser checks fully when the coordinator resolves): ValueError if it is no atom."""
    if not _ATOM_SHAPE.match(atom):
        raise ValueError(f"{atom!r} is not a package atom: expected category/package, e.g. app-misc/tmux or >=dev-libs/foo-1.2")
    return atom


GENTOO_ARCHES = frozenset({"alpha", "amd64", "arm", "arm64", "hppa", "loong", "m68k", "mips", "ppc", "ppc64", "riscv", "s390",
                           "sparc", "x86"})
_ACCEPT_KEYWORDS = re.compile(r"^\s*(?:export\s+)?ACCEPT_KEYWORDS\s*=\s*[\"']?([^\"'#\n]*)", re.MULTILINE)


def foreign_keywords(make_conf: str, arch: str) -> list[str]:
    """Keywords of another arch in make.conf's ACCEPT_KEYWORDS (``~amd64`` in a config used for arm64): portage adds
    them to the profile's, so the plan would quietly take packages never keyworded for ``arch``."""
    found: list[str] = []
    for value in _ACCEPT_KEYWORDS.findall(make_conf):
        for token in value.replace("${ACCEPT_KEYWORDS}", "").split():
            name = token.lstrip("~-")
            if name in GENTOO_ARCHES and name != arch and not token.startswith("-") and token not in found:
                found.append(token)
    return found
