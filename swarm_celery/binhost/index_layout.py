"""Where things are in a staging ``Packages`` file kept by ``binhost.packages_file``: found by a scan, or from a sidecar.

:class:`Layout` holds byte offsets: the terminator (the empty line that ends what portage reads), the digits of
TIMESTAMP and PACKAGES, and each entry's ``CPV:`` line (the byte that turns it off). :func:`scan` finds them in
the file's bytes; a restarted process does not need to: ``.Packages.offsets`` beside the index (written when the
file is written anew, and again after every few MiB of batches) gives the entries up to some offset, the entries
after it are scanned, and the ``#PV:`` lines (entries turned off since) are found by one search. The sidecar is
trusted only for the inode it was written for and only if sampled offsets still hold the CPV it says; otherwise
the whole file is scanned. :func:`repair` clears what a crash left behind the terminator. Pure standard library.
"""

from __future__ import annotations

import itertools
import marshal
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_STAMP = re.compile(rb"^TIMESTAMP: ([0-9]{10})$", re.MULTILINE)
_COUNT = re.compile(rb"^PACKAGES: ([0-9]+)$", re.MULTILINE)
# one entry block from the blank line before it: the lines before CPV, CPV, and PATH when it has one
ENTRY = re.compile(rb"\n\n((?:[^\n]+\n)*?)CPV: ([^\n]*)\n(?:(?:[^\n]+\n)*?PATH: ([^\n]*)\n)?")
_BUILD_ID = re.compile(rb"(?:^|\n)BUILD_ID: ([0-9]+)\n")
OWN = ("TIMESTAMP", "PACKAGES", "VERSION")  # header keys packages_file sets
Key = tuple[str, int]  # (CPV, BUILD_ID): an entry's identity (BUILD_ID 0 when it has none)
_SIDECAR_VERSION = 1
_SAMPLES = 64


@dataclass
class Layout:
    """Where things are in an index file in this layout (byte offsets), as this process last wrote or read it."""

    header: dict[str, str]  # on-disk names, without TIMESTAMP / PACKAGES / VERSION
    stamp: int
    stamp_at: int
    count_at: int
    count_width: int
    end: int  # the terminator
    size: int
    killed: int = 0  # blocks whose CPV line is turned off
    keys: dict[Key, tuple[int, str]] = field(default_factory=dict)  # → (offset of its "CPV:" line, PATH)
    paths: dict[str, Key] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)  # CPV lines of entries a later block replaces (a crash's leftovers)
    signature: tuple[int, int, int] = (0, 0, 0)  # inode, size, mtime_ns after the last write
    saved_end: int = 0  # the sidecar describes the entries before this offset

    def add(self, key: Key, offset: int, path: str) -> None:
        """Note an entry found at ``offset``, after those known: an older one with its key or PATH is a duplicate."""
        for older in {key, self.paths.get(path, key)} & self.keys.keys():
            old_offset, old_path = self.keys.pop(older)
            self.duplicates.append(old_offset)
            if self.paths.get(old_path) == older:
                del self.paths[old_path]
        self.keys[key] = (offset, path)
        if path:
            self.paths[path] = key


def frame(data: bytes, after: int = 0) -> Layout | None:
    """The header and terminator (the first one at ``after`` or later) of an index file's bytes, no entries yet;
    None when it is not in this layout."""
    head_end = data.find(b"\n\n")
    end = data.find(b"\n\n\n", max(head_end, after - 2)) + 2
    head = data[: head_end + 1]
    stamp, count = _STAMP.search(head), _COUNT.search(head)
    if head_end < 0 or end < 2 or stamp is None or count is None:
        return None
    header = {k: v for k, v in (line(raw) for raw in head.splitlines() if b":" in raw) if k not in OWN}
    return Layout(header, int(stamp.group(1)), stamp.start(1), count.start(1), len(count.group(1)), end, len(data))


def scan(data: bytes, layout: Layout | None = None, start: int = 0) -> Layout | None:
    """The layout of an index file's bytes, entries from ``start`` on added to ``layout`` (default: all, from scratch)."""
    if layout is None:
        layout = frame(data)
        if layout is None:
            return None
        layout.killed = data.count(b"\n#PV: ", data.find(b"\n\n"), layout.end)
    for match in ENTRY.finditer(data, max(start - 2, data.find(b"\n\n")), layout.end):
        layout.add(key_of(match), match.start(2) - 5, (match.group(3) or b"").decode("utf-8", "replace"))
    return layout


@dataclass(frozen=True)
class Saved:
    """What a sidecar says: the entries before ``end`` (their CPV lines, some maybe turned off since)."""

    end: int
    keys: dict[Key, tuple[int, str]]
    paths: dict[str, Key]


def read_sidecar(data: bytes, sidecar: Path, inode: int) -> Saved | None:
    """The sidecar's entries, when it was written for this file (``inode``) and sampled offsets still hold the CPV
    it says; else None (the file is scanned instead)."""
    try:
        version, written_for, end, keys, paths = marshal.loads(sidecar.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if version != _SIDECAR_VERSION or written_for != inode or not 2 < end <= len(data) or data[end - 2 : end] != b"\n\n":
        return None
    step = max(1, len(keys) // _SAMPLES)
    for (cpv, _), (offset, _) in itertools.islice(keys.items(), 0, None, step):
        if data[offset + 1 : offset + 5 + len(cpv.encode())] != b"PV: " + cpv.encode():
            return None
    return Saved(end, keys, paths)


def load(data: bytes, saved: Saved) -> Layout | None:
    """The layout of ``data``: the sidecar's entries, less those turned off since, plus those written after it."""
    layout = frame(data, saved.end)
    if layout is None:
        return None
    layout.keys, layout.paths, layout.saved_end = saved.keys, saved.paths, saved.end
    killed: set[int] = set()
    at = data.find(b"\n#PV: ", data.find(b"\n\n"), layout.end)
    while at >= 0:  # one pass, as fast as bytes.find goes (there are few of them)
        killed.add(at + 1)
        at = data.find(b"\n#PV: ", at + 6, layout.end)
    if any(offset < saved.end for offset in killed):
        for key in [k for k, (offset, _) in layout.keys.items() if offset in killed]:
            layout.paths.pop(layout.keys.pop(key)[1], None)
    layout.killed = len(killed)
    return scan(data, layout, saved.end)


def save(layout: Layout, sidecar: Path, inode: int) -> None:
    """Write the sidecar for ``layout`` (through a temporary file: a reader sees the old one or the new one)."""
    tmp = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_bytes(marshal.dumps((_SIDECAR_VERSION, inode, layout.end, layout.keys, layout.paths)))
    os.replace(tmp, sidecar)
    layout.saved_end = layout.end


def repair(fd: int, data: bytes, after: int = 0) -> bytes:
    """``data`` with what a crash can leave behind the index's end cleared: bytes written after the terminator
    but never made visible are zeroed, and a visible batch with bytes that never reached the disk (zeros, after a
    power failure) is cut back to the entry before them. The same bytes when there is nothing to repair. ``after``:
    where the bytes are known whole (a sidecar's end: written and synced before it), to look from."""
    head_end, nul = data.find(b"\n\n"), data.find(b"\0", after)
    end = data.find(b"\n\n\n", max(head_end, after - 2))
    if head_end < 0 or nul < 0 or (end >= 0 and nul == end + 3 and data.count(b"\0", nul) == len(data) - nul):
        return data  # no zeros at all (not this layout), or zeros only, right after the terminator
    if end < 0 or end > nul:  # zeros inside what portage reads: cut at the start of their block
        end = max(data.rfind(b"\n\n", 0, nul), head_end)
        os.pwrite(fd, b"\n", end + 2)
    stale = len(data[end + 3 :].rstrip(b"\0"))
    os.pwrite(fd, bytes(stale), end + 3)
    return data[: end + 2] + b"\n" + bytes(len(data) - end - 3)


def key_of(match: re.Match[bytes]) -> Key:
    build_id = _BUILD_ID.search(match.group(1))
    return match.group(2).decode("utf-8", "replace"), int(build_id.group(1)) if build_id else 0


def line(raw: bytes) -> tuple[str, str]:
    key, _, value = raw.decode("utf-8", "replace").partition(":")
    return key, value[1:]
