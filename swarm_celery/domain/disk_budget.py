"""The binhost's disk budget (pure): sizes as people write them, disk use counted per inode, staging builds superseded.

Generations hard-link the staging tree's files, so the binhost's disk use is the size of each *inode* that
still has a name, counted once however many generations and staging indexes name it. :class:`DiskMap` says
what is used, and what would be once some generations and some staging files are gone. :func:`superseded`
is the rule by which a staging build may go (docs/generations.md, "Disk budget").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from swarm_celery.domain.cpv import split_cpv

Inode = tuple[int, int]  # (st_dev, st_ino)
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(?:I?B)?\s*", re.IGNORECASE)
_UNITS = "KMGTP"


def parse_size(text: str) -> int:
    """``20G``, ``500M``, ``1.5T``, ``4096`` (bytes; K, M, G, T, P are powers of 1024) → bytes; ValueError saying the form."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text[:40]!r} is no size: write a number with K, M, G or T, e.g. 20G or 500M")
    unit = match.group(2).upper()
    return int(float(match.group(1)) * 1024 ** (_UNITS.index(unit) + 1 if unit else 0))


def format_size(size: int) -> str:
    """Bytes as people read them: ``1.5G``, ``300M``, ``12K``, ``800B``."""
    value, unit = float(size), "B"
    for name in _UNITS:
        if abs(value) < 1024:
            break
        value, unit = value / 1024, name
    return f"{value:.0f}{unit}" if unit == "B" or value >= 100 else f"{value:.1f}{unit}"


@dataclass(frozen=True)
class DiskMap:
    """What below the binhost holds which inode: each generation (PROFILE/ARCH/N) its files, each staging file
    (ARCH, path in the staging tree) its inode, and everything else (indexes, tree zips, keys) as ``other``."""

    sizes: Mapping[Inode, int]  # bytes on disk of each inode (allocated blocks)
    generations: Mapping[str, frozenset[Inode]] = field(default_factory=dict)
    staged: Mapping[tuple[str, str], Inode] = field(default_factory=dict)
    other: frozenset[Inode] = frozenset()

    def used(self, gone_generations: Iterable[str] = (), gone_staged: Iterable[tuple[str, str]] = ()) -> int:
        """Bytes used once the generations and staging files named are gone (each inode counted once)."""
        gone_g, gone_s = set(gone_generations), set(gone_staged)
        alive = set(self.other)
        for name, inodes in self.generations.items():
            if name not in gone_g:
                alive |= inodes
        alive |= {inode for key, inode in self.staged.items() if key not in gone_s}
        return sum(self.sizes.get(inode, 0) for inode in alive)

    def named_by(self, generations: Iterable[str]) -> frozenset[Inode]:
        """The inodes the given generations name."""
        return frozenset().union(*(self.generations.get(g, frozenset()) for g in generations))


def build_key(identity: str, simulated: bool) -> str:
    """How the record names the builds of an identity in a staging tree: simulated and real builds never stand in
    for each other."""
    return f"{identity}/{'simulated' if simulated else 'real'}"


@dataclass(frozen=True)
class StagedBuild:
    """One package of a staging index, as the record knows its build."""

    path: str  # in the arch's staging tree: cat/pn/<PF>-<BUILD_ID>.gpkg.tar
    cpv: str
    identity: str  # the build's identity key, ending in /simulated or /real ("" = the record names no build of this file)
    published_at: float = 0.0
    slot: str = "0"  # SLOT as the staging index gives it (a sub-slot after "/" is ignored)

    @property
    def package(self) -> tuple[str, str, str] | None:
        """(category/name, SLOT, how it was built: simulated or real): builds of one package that supersede each other;
        None when the record does not know the build or its CPV is malformed (it is never superseded then)."""
        if not self.identity:
            return None
        try:
            cpv = split_cpv(self.cpv)
        except ValueError:
            return None
        return f"{cpv.category}/{cpv.package}", self.slot.split("/")[0], self.identity.rsplit("/", 1)[-1]


def superseded(builds: Iterable[StagedBuild], named: Iterable[str], running: Iterable[str]) -> list[str]:
    """The staging paths that may go: a build of a package (category/name and SLOT, built the same way) the staging
    index holds a newer build of (published later: a ``--rebuild`` of the same identity, or another version, USE,
    sub-slot binding), named by no generation that stays (``named``), of no CPV a running session plans (``running``:
    a drone may be fetching it). A build the record does not know, and the newest build of every package, always
    stay. A session that wants a pruned build again builds it again: the record counts an identity as held only
    while one of its files is on disk."""
    listed = list(builds)
    newest: dict[tuple[str, str, str], tuple[float, str]] = {}
    for build in listed:
        key = build.package
        if key is not None:
            newest[key] = max(newest.get(key, (float("-inf"), "")), (build.published_at, build.path))
    keep, busy = set(named), set(running)
    return sorted(b.path for b in listed if (key := b.package) is not None and newest[key][1] != b.path
                  and b.path not in keep and b.cpv not in busy)


__all__ = ["DiskMap", "Inode", "StagedBuild", "build_key", "format_size", "parse_size", "superseded"]
