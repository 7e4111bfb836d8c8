"""The baseline's installed-package database is written once per content under the cache and linked into each root."""

from __future__ import annotations

import os
from pathlib import Path

from swarm_celery.resolve.root import cached_vdb, link_vdb

RECORDS = [
    {"cpv": "sys-libs/zlib-1.3.1", "SLOT": "0/1", "EAPI": "8", "USE": "static-libs", "repository": "gentoo"},
    {"cpv": "app-shells/bash-5.2_p37", "SLOT": "0", "EAPI": "8", "USE": "", "repository": "gentoo"},
]


def test_vdb_is_written_once_per_content(tmp_path: Path) -> None:
    cache = tmp_path / "vdb"
    first = cached_vdb(RECORDS, cache)
    zlib = first / "sys-libs" / "zlib-1.3.1"
    assert (zlib / "SLOT").read_text() == "0/1\n" and (zlib / "COUNTER").read_text() == "1\n"
    assert (zlib / "zlib-1.3.1.ebuild").read_text() == 'EAPI="8"\n'
    assert (first / "app-shells" / "bash-5.2_p37" / "COUNTER").read_text() == "2\n"
    stamp = zlib.stat().st_mtime_ns
    assert cached_vdb([dict(r) for r in RECORDS], cache) == first and zlib.stat().st_mtime_ns == stamp
    other = cached_vdb(RECORDS[:1], cache)
    assert other != first and sorted(p.name for p in cache.iterdir()) == sorted([first.name, other.name])


def test_a_leftover_part_does_not_leak_into_the_vdb(tmp_path: Path) -> None:
    cache = tmp_path / "vdb"
    final = cached_vdb(RECORDS, cache)
    for entry in [final, *final.rglob("*")][::-1]:
        entry.rmdir() if entry.is_dir() else entry.unlink()
    stale = cache / f".{final.name}.{os.getpid()}.part" / "dev-libs" / "stale-1"
    stale.mkdir(parents=True)
    assert cached_vdb(RECORDS, cache) == final
    assert not (final / "dev-libs").exists() and not stale.parent.parent.exists()


def test_link_replaces_the_root_s_empty_vdb(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "var" / "db" / "pkg").mkdir(parents=True)
    link_vdb(root, RECORDS, tmp_path / "cache")
    pkg = root / "var" / "db" / "pkg"
    assert pkg.is_symlink() and (pkg / "sys-libs" / "zlib-1.3.1" / "USE").read_text() == "static-libs\n"
    link_vdb(root, RECORDS[:1], tmp_path / "cache")
    assert pkg.is_symlink() and not (pkg / "app-shells").exists()
