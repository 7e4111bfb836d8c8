"""The binhost's disk, as the budget of ``binhost purge`` counts it: which name holds which inode, and staging pruning.

Everything below ``SWARM_HOME/binhost`` counts: the staging trees (``<arch>/``), the generations
(``generations/<profile>/<arch>/<N>/``) and what lies beside them (indexes, tree zips, the signing key).
A file's size is what it occupies on disk (its allocated blocks), counted once per inode however many
hard links name it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.packages_file import remove_paths_from_index
from swarm_celery.domain.disk_budget import DiskMap, Inode

GENERATIONS = "generations"


def disk_map(binhost: Path) -> DiskMap:
    """Every file, directory and link below ``binhost`` (as ``du`` counts them): its inode's size, and whether a
    generation, a staging build or neither names it."""
    sizes: dict[Inode, int] = {}
    generations: dict[str, set[Inode]] = {}
    staged: dict[tuple[str, str], Inode] = {}
    other: set[Inode] = set()
    root = str(binhost)
    for folder, _dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        parts = [] if rel == "." else rel.split(os.sep)
        for name in ["", *names]:  # "": the folder itself
            try:
                st = os.lstat(os.path.join(folder, name) if name else folder)
            except FileNotFoundError:
                continue
            inode = (st.st_dev, st.st_ino)
            sizes[inode] = st.st_blocks * 512
            owner = _generation(parts)
            if owner:
                generations.setdefault(owner, set()).add(inode)
            elif len(parts) == 3 and parts[0] != GENERATIONS and name.endswith(".gpkg.tar") and stat.S_ISREG(st.st_mode):
                staged[(parts[0], f"{parts[1]}/{parts[2]}/{name}")] = inode
            else:
                other.add(inode)
    return DiskMap(sizes, {k: frozenset(v) for k, v in generations.items()}, staged, frozenset(other))


def _generation(parts: list[str]) -> str:
    """``PROFILE/ARCH/N`` when the folder is inside a (whole) generation's directory, else ""."""
    if len(parts) >= 4 and parts[0] == GENERATIONS and parts[3].isdigit():
        return "/".join(parts[1:4])
    return ""


def staging_entries(binhost: Path, arch: str) -> list[tuple[str, str, str]]:
    """(path, CPV, SLOT) of every package the arch's staging index names."""
    index = binhost / arch / "Packages"
    if not index.is_file():
        return []
    return [(e.path, e.cpv, e.slot) for e in parse_index(index.read_text(encoding="utf-8"))[1] if e.path]


def prune_staging(binhost: Path, arch: str, paths: Iterable[str]) -> int:
    """Drop ``paths`` from the arch's staging index (one atomic rewrite under the publishers' lock), then remove their
    files: a reader of the new index never finds one of them named. Returns the files removed."""
    wanted = sorted(set(paths))
    tree = binhost / arch
    if not wanted or not (tree / "Packages").is_file():
        return 0
    remove_paths_from_index(tree / "Packages", wanted, {})
    gone = 0
    for path in wanted:
        try:
            (tree / path).unlink()
            gone += 1
        except FileNotFoundError:
            pass
    return gone
