"""What a drone announces about itself: cores, memory, free disk, and the build slots they give."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from swarm_celery.domain.model import DroneIdentity
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


def collect_identity(name: str, arch: str, home: Path, *, cores_per_slot: int, slots: int = 0, core_limit: int = 0,
                     paused: bool = False) -> DroneIdentity:
    cores = os.cpu_count() or 1
    return DroneIdentity(name=name, arch=arch, cores=cores, memory_mb=memory_mb(), disk_free_mb=disk_free_mb(home),
                         slots=slots_for(cores, cores_per_slot, core_limit, slots), paused=paused)
