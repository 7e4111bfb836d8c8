"""Portage tree snapshots: when the tree changed, what to keep (pure).

The tree watcher (``swarm.check_tree``) fingerprints the main tree from what a sync
changes — ``metadata/timestamp.chk`` and the md5-cache entries (name, size, mtime) — which
costs a directory walk of the cache, not a read of the tree. A new fingerprint means a
sync happened: the watcher takes a snapshot (a compressed tarball, named by its content
hash), keeps the newest ``keep``, and re-resolves the auto-rebuild profiles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str  # the first 16 hex digits of the tarball's sha256
    taken_at: float
    tree: str
    fingerprint: str
    sha256: str
    path: str
    size: int
    files: int
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "taken_at": self.taken_at, "tree": self.tree, "fingerprint": self.fingerprint,
                "sha256": self.sha256, "path": self.path, "size": self.size, "files": self.files, "reason": self.reason}


def fingerprint(timestamp: str, cache_entries: Iterable[tuple[str, int, int]]) -> str:
    """sha256 of the tree's timestamp.chk text and its md5-cache entries (relative path, size, mtime in ns), sorted."""
    digest = hashlib.sha256(timestamp.strip().encode())
    for path, size, mtime_ns in sorted(cache_entries):
        digest.update(f"\0{path}\0{size}\0{mtime_ns}".encode())
    return digest.hexdigest()


def tree_changed(current: str, snapshots: Sequence[Snapshot]) -> str:
    """Why a snapshot is due ("" when it is not): no snapshot yet, or the newest has another fingerprint."""
    if not snapshots:
        return "first snapshot of this tree"
    newest = max(snapshots, key=lambda s: s.taken_at)
    if newest.fingerprint != current:
        return f"the tree changed since snapshot {newest.id}"
    return ""


def to_prune(snapshots: Sequence[Snapshot], keep: int) -> list[Snapshot]:
    """The snapshots beyond the newest ``keep`` (at least one is always kept)."""
    ordered = sorted(snapshots, key=lambda s: s.taken_at, reverse=True)
    return ordered[max(1, keep):]


__all__ = ["Snapshot", "fingerprint", "to_prune", "tree_changed"]
