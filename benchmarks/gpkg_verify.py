"""Benchmark: verifying a GPKG (``read_gpkg_metadata``) with the plain-header reader against tarfile alone.

The same GPKGs, the same process, the two readers alternating round by round (the machine is noisy); printed as
microseconds per package (median of the rounds) and their ratio:

* small — what a simulated build or a virtual writes: one file in the image, a full set of metadata files;
* files — an image of ``--files`` small files in a directory tree (a library package's shape);
* tarfile — the same GPKGs with the plain-header reader turned off (every archive read by tarfile, as before).

    .venv/bin/python benchmarks/gpkg_verify.py [--packages 200] [--rounds 7] [--files 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm_celery.binhost import ustar
from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata


def packages(directory: Path, count: int, files: int) -> list[Path]:
    paths = []
    for i in range(count):
        meta = BinpkgMetadata(cpv=f"dev-libs/bench{i}-1.{i}", slot="0", repo="gentoo", arch="amd64", use=("ssl", "zstd"),
                              iuse=("ssl", "zstd", "test"), keywords="amd64 ~arm64", rdepend="dev-libs/openssl:=",
                              chost="x86_64-pc-linux-gnu", build_time=1_700_000_000, build_id=1)
        image = {f"usr/lib64/bench{i}/mod{j // 10}/file{j}.py": b"x = %d\n" % j * 20 for j in range(files)} if files \
            else {f"usr/share/doc/bench{i}/README": b"one file\n"}
        paths.append(write_gpkg(directory, meta, image, durable=False))
    return paths


@contextmanager
def tarfile_only() -> Iterator[None]:
    def unsupported(read: object) -> Iterator[ustar.Member]:
        raise ustar.Unsupported("turned off")
        yield  # pragma: no cover

    with mock.patch.object(ustar, "members", unsupported):
        yield


def per_package(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        read_gpkg_metadata(path)
    return (time.perf_counter() - start) / len(paths) * 1e6


def measure(paths: list[Path], rounds: int) -> tuple[float, float]:
    fast, slow = [], []
    per_package(paths)  # warm the page cache and the imports
    for _ in range(rounds):
        fast.append(per_package(paths))
        with tarfile_only():
            slow.append(per_package(paths))
    return statistics.median(fast), statistics.median(slow)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--files", type=int, default=60)
    args = parser.parse_args()
    print(f"{args.packages} GPKGs per shape, median of {args.rounds} alternating rounds")
    print(f"{'shape':<10} {'plain-header reader':>20} {'tarfile alone':>14} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="bench-gpkg-") as tmp:
        for shape, files in (("small", 0), (f"{args.files} files", args.files)):
            directory = Path(tmp) / shape.replace(" ", "-")
            directory.mkdir()
            fast, slow = measure(packages(directory, args.packages, files), args.rounds)
            print(f"{shape:<10} {fast:>17.0f} µs {slow:>11.0f} µs {fast / slow:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
