"""Benchmark: making and publishing a binhost generation of 20,000 packages, and the disk 10 generations take.

A staging tree of ``--packages`` files (``--kib`` of allocated disk each, about a typical GPKG;
making a generation never reads a GPKG, it links the files its staging index names) and its
``Packages`` index, written as the publisher writes it. Then:

* publish — ``GenerationFiles.create`` (hard links, the generation's index, its description, the
  rename) plus ``publish`` (index TIMESTAMP, the symlink switch), timed; target ≤ 2 s. "No GPKG data
  copied" is checked, not assumed: every package file of the generation is the staging file's inode.
* disk — ``--generations`` generations, ``--change`` of the packages rebuilt between each two (a new
  ``BUILD_ID``, a new file in staging; the rest shared). Disk is counted once per inode (st_blocks),
  for the package data every generation names and for what the generations add (indexes, directories);
  target: what the generations add ≤ 0.2 × one generation (1.2× in all). The new package data itself
  (``--change`` × (generations − 1) of the world) is the floor no layout goes below, printed beside it.

    .venv/bin/python benchmarks/generations.py [--packages 20000] [--kib 256] [--generations 10] [--change 0.05]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm_celery.binhost.generations import GenerationFiles, served_path  # noqa: E402
from swarm_celery.binhost.index import IndexEntry, parse_index, render_index, write_atomic  # noqa: E402
from swarm_celery.domain.generations import Generation, GenerationRef  # noqa: E402


def stage(binhost: Path, count: int, kib: int, rebuilt: dict[int, int]) -> dict[int, str]:
    """Write the files not yet there (package i at build id rebuilt.get(i, 1)) and the staging index of all of them."""
    tree = binhost / "amd64"
    paths, entries = {}, []
    for i in range(count):
        build = rebuilt.get(i, 1)
        path = f"cat-{i % 97}/pkg{i}/pkg{i}-1.0-{build}.gpkg.tar"
        file = tree / path
        if not file.exists():
            file.parent.mkdir(parents=True, exist_ok=True)
            with file.open("wb") as handle:  # real blocks, no time spent on their content (never read here)
                os.posix_fallocate(handle.fileno(), 0, kib * 1024)
        paths[i] = path
        entries.append(IndexEntry(cpv=f"cat-{i % 97}/pkg{i}-1.0", path=path, sha1="0" * 40, size=kib * 1024, build_time=1_700_000_000,
                                  slot="0", repo="gentoo", use=("amd64", "ssl"), build_id=build))
    current = set(paths.values())
    old = [e for e in _index(tree) if e.path not in current]  # earlier builds stay in the staging index
    write_atomic(tree / "Packages", render_index({"ARCH": "amd64", "TIMESTAMP": str(int(time.time()))}, [*old, *entries]), int(time.time()))
    return paths


def _index(tree: Path) -> list[IndexEntry]:
    return parse_index((tree / "Packages").read_text())[1] if (tree / "Packages").is_file() else []


def blocks(paths: list[Path], seen: set[int]) -> int:
    """Bytes on disk of these files, each inode counted once across calls."""
    total = 0
    for path in paths:
        st = path.stat()
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def publish_bench(binhost: Path, files: GenerationFiles, paths: dict[int, str]) -> float:
    started = time.perf_counter()
    made = files.create("bench", "amd64", sorted(paths.values()), Generation(GenerationRef("bench", "amd64", 1), time.time(), "s1"))
    files.publish(made.ref)
    seconds = time.perf_counter() - started
    area = files.area("bench", "amd64") / str(made.ref.number)
    copied = [p for p in paths.values() if (area / served_path(p)).stat().st_ino != (binhost / "amd64" / p).stat().st_ino]
    print(f"publish: {len(paths)} packages in {seconds:.2f} s (target ≤ 2 s); GPKG files copied: {len(copied)} (hard links: "
          f"{len(paths) - len(copied)})")
    return seconds


def disk_bench(binhost: Path, files: GenerationFiles, count: int, kib: int, generations: int, change: float) -> float:
    rebuilt: dict[int, int] = {}
    for n in range(1, generations):  # generation 1 is the publish benchmark's
        for i in random.sample(range(count), int(count * change)):
            rebuilt[i] = rebuilt.get(i, 1) + 1
        paths = stage(binhost, count, kib, rebuilt)
        files.create("bench", "amd64", sorted(paths.values()), Generation(GenerationRef("bench", "amd64", 1), time.time(), f"s{n + 1}"))
    area = files.area("bench", "amd64")
    gens = sorted((p for p in area.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    one_seen: set[int] = set()
    one = blocks([gens[0], *gens[0].rglob("*")], one_seen)
    seen: set[int] = set()
    package_data = blocks([p for g in gens for p in g.rglob("*.gpkg.tar")], seen)
    added = blocks([p for g in gens for p in [g, *g.rglob("*")] if not p.name.endswith(".gpkg.tar")], seen)  # dirs too
    floor = 1 + change * (generations - 1)
    print(f"disk: one generation {one / 2**20:.1f} MiB; {len(gens)} generations {(package_data + added) / 2**20:.1f} MiB "
          f"= {(package_data + added) / one:.2f}× one (package data {package_data / one:.2f}×, the floor with "
          f"{change:.0%} rebuilt each time: {floor:.2f}×; indexes and directories {added / one:.3f}×, target ≤ 0.2×)")
    return added / one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=20000)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--change", type=float, default=0.05)
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="bench-gen", dir=os.environ.get("TMPDIR")) as tmp:
        binhost = Path(tmp) / "binhost"
        paths = stage(binhost, args.packages, args.kib, {})
        files = GenerationFiles(binhost)
        seconds = publish_bench(binhost, files, paths)
        overhead = disk_bench(binhost, files, args.packages, args.kib, args.generations, args.change)
    sys.exit(0 if seconds <= 2.0 and overhead <= 0.2 else 1)


if __name__ == "__main__":
    main()
