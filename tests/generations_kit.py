"""Test kit for binhost generations: a staging tree of simulated GPKGs, published as the coordinator publishes them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildRequest, PackageState
from swarm_celery.domain.records import PackageInfo
from swarm_celery.drone.builders import SimulateBuilder


def stage(binhost: Path, cpvs: list[str], use: tuple[str, ...] = ("amd64",), attempt: str = "a",
          slots: Mapping[str, str] | None = None) -> dict[str, str]:
    """Build each CPV (simulated, in SLOT 0 unless ``slots`` gives another) and publish it into ``binhost``/amd64;
    cpv → path in the staging tree."""
    staging = binhost.parent / "staging"
    publisher = BinhostPublisher(binhost, staging=staging)
    paths = {}
    for i, cpv in enumerate(cpvs):
        attempt_id = hashlib.md5(f"{attempt}{i}{cpv}".encode(), usedforsecurity=False).hexdigest()
        slot = (slots or {}).get(cpv, "0")
        request = BuildRequest(attempt_id, "s1", cpv, "amd64", slot, "gentoo", use)
        out = SimulateBuilder(Durations({}), 0.0).build(request, staging / attempt_id)
        package = PackageInfo(1, "s1", cpv, slot, slot, "gentoo", use, 0, PackageState.BUILDING, attempt_id)
        paths[cpv] = publisher.publish("amd64", out.artifact, out.sha256, package, simulated_ok=True).path
    return paths


def served_whole(area: Path) -> tuple[int, int]:
    """What ``current`` serves: (generation number, packages), after checking every file its index names is there
    with the size and SHA1 the index gives."""
    current = area / "current"
    number = int(current.readlink().as_posix())
    entries = parse_index((current / "Packages").read_text())[1]
    for entry in entries:
        data = (current / entry.path).read_bytes()
        assert len(data) == entry.size and hashlib.sha1(data, usedforsecurity=False).hexdigest() == entry.sha1, entry.path
    return number, len(entries)


class BudgetRecord:
    """The record as the disk budget reads it: each staging build's identity key and when it was published
    (``builds``: path → (identity key, published at)), the CPVs running sessions plan, and the events it was told."""

    def __init__(self) -> None:
        self.builds: dict[str, tuple[str, float]] = {}
        self.running: frozenset[str] = frozenset()
        self.events: list[str] = []

    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        self.events.append(message)

    def staged_builds(self, arch: str) -> dict[str, tuple[str, float]]:
        return self.builds

    def running_cpvs(self, arch: str) -> frozenset[str]:
        return self.running


class FixedClock:
    def now(self) -> float:
        return 1000.0
