"""Benchmark: updating the staging ``Packages`` index for one batch of published packages, at 1k/20k/100k entries.

For each size a staging index of that many entries (about 600 bytes each, like a real binhost's) is written, then:

* update — ``--batches`` batches of ``--batch`` new packages through ``packages_file.upsert_index``, as the
  publisher sends them (every tenth batch also republishes a package already indexed: a redelivered report);
  per batch p50 / p99 / max, and how many of them wrote the file anew (the zeros behind the index ran out);
* restart — the first batch of a process that has never seen the file (it scans it once), median of 3;
* rewrite — what writing the file anew costs when it happens (once the zeros after the index are used up: about
  every ``slack / batch bytes`` batches), and that interval;
* baseline — the previous implementation in the same run: the whole index rendered and written atomically per
  batch (entries kept parsed in memory between batches), and its first batch after a restart (parse, then that).

Every update ends in one fsync: after each batch a 1-byte write + fsync of another file in the same directory is
timed too ("fsync alone meanwhile"), the floor no durable update goes below on this disk at those moments; the
CPU time of each update (this process's, whatever else the machine runs) is printed beside its wall time.
Target: update ≤ 10 ms per batch at 100,000 entries.

    .venv/bin/python benchmarks/index_update.py [--sizes 1000,20000,100000] [--batch 20] [--batches 200] [--dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm_celery.binhost import packages_file  # noqa: E402
from swarm_celery.binhost.index import IndexEntry, parse_index, render_index, write_atomic  # noqa: E402
from swarm_celery.binhost.packages_file import upsert_index  # noqa: E402

HEADER = {"ARCH": "amd64", "ACCEPT_KEYWORDS": "amd64", "CHOST": "x86_64-pc-linux-gnu"}


def entry(i: int, build_id: int = 1) -> IndexEntry:
    cat, pn = f"cat-{i % 157}", f"pkg{i}"
    deps = " ".join(f">=dev-libs/lib{(i * 7 + j) % 4000}-1.{j}:0/{j}=" for j in range(3))
    return IndexEntry(
        cpv=f"{cat}/{pn}-1.{i % 9}", path=f"{cat}/{pn}/{pn}-1.{i % 9}-{build_id}.gpkg.tar", sha1=f"{i:040x}", md5=f"{i:032x}",
        size=100_000 + i, mtime=1_700_000_000 + i, build_time=1_700_000_000 + i, build_id=build_id, slot="0", repo="gentoo",
        use=("amd64", "ssl", "zlib", "nls", "elibc_glibc", "kernel_linux"), iuse="ssl zlib +nls test", keywords="amd64 ~arm64",
        license="GPL-2+", depend=deps, rdepend=deps, bdepend="virtual/pkgconfig", defined_phases="compile configure install",
        requires="x86_64: libc.so.6 libz.so.1",
    )


def quantiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50": round(statistics.median(ordered), 2), "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max": round(ordered[-1], 2)}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def touch(fd: int, at: int) -> None:
    os.pwrite(fd, b"x", at)
    os.fsync(fd)


def fsync_floor(directory: Path, rounds: int = 30) -> dict[str, float]:
    fd = os.open(directory / "fsync-probe", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return quantiles([timed(partial(touch, fd, i)) for i in range(rounds)])
    finally:
        os.close(fd)
        os.unlink(directory / "fsync-probe")


def new(index: Path, size: int, batch: int, batches: int) -> dict[str, object]:
    upsert_index(index, [entry(i) for i in range(size)], HEADER)
    inode, file_bytes = index.stat().st_ino, index.stat().st_size
    seeded = index.read_bytes().index(b"\n\n\n")
    times, cpu, floor, rewrites, next_id = [], [], [], 0, size
    probe = os.open(index.with_name("fsync-probe"), os.O_RDWR | os.O_CREAT, 0o644)
    for b in range(batches):
        items = [entry(next_id + k) for k in range(batch)]
        if b % 10 == 9:
            items.append(entry(b * 37 % size))  # a redelivered report: the same package again, replaced in place
        next_id += batch
        start = time.process_time()
        times.append(timed(partial(upsert_index, index, items, HEADER)))
        cpu.append((time.process_time() - start) * 1000)
        floor.append(timed(partial(touch, probe, b)))  # the disk, in the same moments
        if index.stat().st_ino != inode:
            rewrites, inode = rewrites + 1, index.stat().st_ino
    os.close(probe)
    restarts = []
    for _ in range(3):
        packages_file._STATES.clear()  # a new process: it scans the file once
        items = [entry(next_id + k) for k in range(batch)]
        next_id += batch
        restarts.append(timed(partial(upsert_index, index, items, HEADER)))
    rewrite = timed(lambda: upsert_index(index, [entry(next_id)], {**HEADER, "BENCHMARK": "1"}))  # a new header: written anew
    per_batch = seeded / size * batch
    return {"update_ms": quantiles(times), "cpu_ms": quantiles(cpu), "fsync_floor_ms": quantiles(floor), "rewrites": rewrites, "restart_ms": round(statistics.median(restarts), 1),
            "rewrite_ms": round(rewrite, 1), "batches_between_rewrites": int(max(packages_file.MIN_SLACK, seeded // 4) / per_batch),
            "file_mb": round(file_bytes / 1e6, 1), "index_mb": round(seeded / 1e6, 1)}


def old(index: Path, size: int, batch: int, batches: int) -> dict[str, object]:
    """The previous implementation: every batch renders the whole index and writes it through a temporary file."""
    entries = [entry(i) for i in range(size)]
    write_atomic(index, render_index({**HEADER, "TIMESTAMP": str(int(time.time()))}, entries), int(time.time()))

    def rewrite(items: list[IndexEntry], parsed: list[IndexEntry] | None = None) -> None:
        nonlocal entries
        if parsed is not None:
            entries = parse_index(index.read_text())[1]
        keys = {(e.cpv, e.build_id) for e in items}
        entries = [e for e in entries if (e.cpv, e.build_id) not in keys] + items
        stamp = int(time.time())
        write_atomic(index, render_index({**HEADER, "TIMESTAMP": str(stamp), "VERSION": "0"}, entries), stamp + 5)

    times = [timed(partial(rewrite, [entry(size + b * batch + k) for k in range(batch)])) for b in range(batches)]
    restart = timed(lambda: rewrite([entry(size * 2 + k) for k in range(batch)], []))
    return {"update_ms": quantiles(times), "restart_ms": round(restart, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--old-batches", type=int, default=0, help="baseline batches per size (default: fewer as the index grows)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory under /var/tmp)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="index-bench-", dir=args.dir or "/var/tmp") as tmp:
        root = Path(tmp)
        floor = fsync_floor(root)
        for size in (int(s) for s in args.sizes.split(",")):
            (root / f"new-{size}").mkdir()
            (root / f"old-{size}").mkdir()
            got = new(root / f"new-{size}" / "Packages", size, args.batch, args.batches)
            got["old"] = old(root / f"old-{size}" / "Packages", size, args.batch, args.old_batches or max(3, 20_000 // size * 2))
            results[size] = got
            if not args.json:
                report(size, got)
    if args.json:
        print(json.dumps({"fsync_floor_ms": floor, "batch": args.batch, "sizes": results}, indent=1))
    else:
        print(f"fsync floor on this disk (1-byte write + fsync): p50 {floor['p50']} ms, p99 {floor['p99']} ms")


def report(size: int, got: dict[str, object]) -> None:
    upd, base = got["update_ms"], got["old"]
    assert isinstance(upd, dict) and isinstance(base, dict)
    speedup = base["update_ms"]["p50"] / upd["p50"] if upd["p50"] else float("inf")
    cpu, floor = got["cpu_ms"], got["fsync_floor_ms"]
    assert isinstance(cpu, dict) and isinstance(floor, dict)
    print(f"{size:>7} entries ({got['index_mb']} MB index, {got['file_mb']} MB file with zeros): "
          f"update p50 {upd['p50']} ms p99 {upd['p99']} ms max {upd['max']} ms ({got['rewrites']} rewrites), "
          f"CPU p50 {cpu['p50']} ms p99 {cpu['p99']} ms, fsync alone meanwhile p50 {floor['p50']} ms p99 {floor['p99']} ms; "
          f"first after restart {got['restart_ms']} ms; rewrite {got['rewrite_ms']} ms every ~{got['batches_between_rewrites']} batches | "
          f"old: p50 {base['update_ms']['p50']} ms, after restart {base['restart_ms']} ms ({speedup:.0f}x)", flush=True)


if __name__ == "__main__":
    main()
