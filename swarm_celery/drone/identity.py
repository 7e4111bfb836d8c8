"""What a drone announces about itself: cores, memory, free disk, the build slots they give, and what it builds with
(its portage tree's timestamp, its Gentoo profile, the build-swarm version it runs)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import swarm_celery
from swarm_celery.domain.model import DroneIdentity
from swarm_celery.domain.payload import counts, payload_digest
from swarm_celery.domain.scheduling import slots_for


def memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """MemTotal in MiB (0 when the system does not say)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def disk_free_mb(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free // (1024 * 1024)


def tree_timestamp(tree: Path) -> str:
    """The first line of ``metadata/timestamp.chk`` (what ``emerge --sync`` writes), "" when the tree has none."""
    try:
        return (tree / "metadata" / "timestamp.chk").read_text(errors="replace").strip().splitlines()[0][:64]
    except (OSError, IndexError):
        return ""


def gentoo_profile(config_root: Path) -> str:
    """The profile ``<config_root>/make.profile`` points at, relative to its ``profiles/`` directory; "" when unset."""
    try:
        target = os.readlink(config_root / "make.profile")
    except OSError:
        return ""
    head, sep, tail = target.partition("/profiles/")
    return (tail if sep else head).rstrip("/")[:255]


def payload_version() -> str:
    try:
        return importlib.metadata.version("swarm-celery")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def payload_hash() -> str:
    """The digest of the build-swarm code this process runs (domain.payload), read once: what a wheel of it would give."""
    package = Path(swarm_celery.__file__).resolve().parent
    files = ((path.relative_to(package.parent).as_posix(), path) for path in package.rglob("*") if path.is_file())
    return payload_digest((name, path.read_bytes()) for name, path in files if counts(name))


@dataclass(frozen=True, slots=True)
class Capacity:
    cores_per_slot: int
    slots: int = 0
    core_limit: int = 0


def collect_identity(name: str, arch: str, home: Path, capacity: Capacity, *, paused: bool = False, tree: Path | None = None,
                     config_root: Path | None = None, builder: str = "") -> DroneIdentity:
    cores = os.cpu_count() or 1
    return DroneIdentity(name=name, arch=arch, cores=cores, memory_mb=memory_mb(), disk_free_mb=disk_free_mb(home),
                         slots=slots_for(cores, capacity.cores_per_slot, capacity.core_limit, capacity.slots), paused=paused,
                         tree_timestamp=tree_timestamp(tree) if tree else "", gentoo_profile=gentoo_profile(config_root) if config_root else "",
                         payload_version=payload_version(), builder=builder, payload_hash=payload_hash())
