"""Portage tree files (port ``TreeFiles``): the tree's fingerprint, and snapshots as reproducible tarballs.

The fingerprint reads only what a sync changes: ``metadata/timestamp.chk`` and the md5-cache
entries' names, sizes and mtimes (an overlay without a cache: every file but ``.git``).
A snapshot is a gzip'd tarball of the tree (without ``.git``, ``distfiles`` and ``packages``)
written in sorted order with a zero gzip timestamp, so the same tree gives the same bytes
and the sha256 names the content. It is written to a ``.part`` file and renamed when whole.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from swarm_celery.domain.snapshots import Snapshot, fingerprint

SKIPPED = {".git", "distfiles", "packages"}


class TreeSnapshots:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fingerprint(self, tree: Path) -> str:
        if not tree.is_dir():
            raise FileNotFoundError(f"the tree {tree} does not exist")
        stamp = tree / "metadata" / "timestamp.chk"
        cache = tree / "metadata" / "md5-cache"
        text = stamp.read_text(errors="replace") if stamp.is_file() else ""
        root = cache if cache.is_dir() else tree
        return fingerprint(text, ((str(p.relative_to(root)), st.st_size, st.st_mtime_ns) for p, st in _files(root)))

    def take(self, tree: Path, print_: str, reason: str) -> Snapshot:
        self.directory.mkdir(parents=True, exist_ok=True)
        part = self.directory / f".{tree.name}-{os.getpid()}-{time.monotonic_ns()}.part"
        try:
            files = _write_tarball(tree, part)
            sha256 = _sha256(part)
            taken = time.time()
            final = self.directory / f"{tree.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(taken))}-{sha256[:16]}.tar.gz"
            part.rename(final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        return Snapshot(sha256[:16], taken, str(tree), print_, sha256, str(final), final.stat().st_size, files, reason)

    def remove(self, snapshot: Snapshot) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(snapshot.path).unlink()


def _files(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            yield path, path.lstat()


def _write_tarball(tree: Path, dest: Path) -> int:
    """Reproducible: sorted members, owner root, the gzip header without a timestamp or file name. Returns the files written."""
    count = 0
    with dest.open("wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, _ in _files(tree):
            info = tar.gettarinfo(str(path), arcname=str(Path(tree.name) / path.relative_to(tree)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
            count += 1
    return count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["TreeSnapshots"]
