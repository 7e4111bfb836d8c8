"""The staging ``Packages`` index on disk, updated in place: a batch costs O(batch), not O(binhost).

Used by ``binhost.publisher`` (:func:`upsert_index` after each batch of publishes) and ``binhost.disk``
(:func:`remove_paths_from_index` when the budget prunes); ``binhost.index`` renders and parses the text.

Layout: what portage reads, then an empty line, then zeros up to a fixed file size::

    <header block>\\n<entry block>\\n ... <entry block>\\n  \\n  \\0\\0\\0 ... \\0

Portage's ``PackageIndex.readBody`` stops at the first empty block, so the extra empty line (the
*terminator*) ends the index and nothing after it is read (an HTTP client reading through portage closes
the connection there). A batch is written in the zeros after the terminator, all but its first byte, then
that first byte is written over the terminator: one single-byte write makes the whole batch visible, and
its own last byte is the new terminator. An entry is replaced or removed by turning the ``C`` of its
``CPV:`` line into ``#``: portage skips a block without CPV. TIMESTAMP (10 digits) and PACKAGES
(zero-padded) are overwritten in place, the file's mtime set to TIMESTAMP + 5 (see
``index.PORTAGE_TIMESTAMP_TOLERANCE``), then one fsync makes the batch durable. The file never changes
size in place, so a server's Content-Length always matches what it sends and a reader that got the
terminator's new byte finds the batch behind it whole. When the zeros run out (or a header key changes,
or removed blocks outnumber the live ones) the file is written anew, sorted like portage writes it, with
fresh zeros (a sparse tail: no disk used), through a temporary file and a rename.

Each process keeps where things are (the terminator, the TIMESTAMP and PACKAGES digits, each entry's
CPV line) per index path, valid while the file is exactly the one it last wrote (same inode, size and
mtime, terminator in place); otherwise it scans the file once, repairing what a crash left: duplicate
entries (a batch written but its replaced entries not yet removed), stale bytes after the terminator,
and a batch cut short by a power failure (its bytes that never reached the disk read as zeros: the index
is cut back to the entry before them). Writers are serialised by ``flock`` on ``.Packages.lock``.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from swarm_celery.binhost.index import (
    INHERITED_KEYS,
    PORTAGE_TIMESTAMP_TOLERANCE,
    IndexEntry,
    entry_block,
    header_block,
    parse_index,
)

COUNT_WIDTH = 7  # PACKAGES is written zero-padded to this many digits (at least), so it can be overwritten in place
MIN_SLACK = 1 << 20  # zeros after the terminator, at least; else a quarter of what is before it
_STAMP = re.compile(rb"^TIMESTAMP: ([0-9]{10})$", re.MULTILINE)
_COUNT = re.compile(rb"^PACKAGES: ([0-9]+)$", re.MULTILINE)
# one entry block from the blank line before it: the lines before CPV, CPV, and PATH when it has one
_ENTRY = re.compile(rb"\n\n((?:[^\n]+\n)*?)CPV: ([^\n]*)\n(?:(?:[^\n]+\n)*?PATH: ([^\n]*)\n)?")
_BUILD_ID = re.compile(rb"(?:^|\n)BUILD_ID: ([0-9]+)\n")
_OWN = ("TIMESTAMP", "PACKAGES", "VERSION")  # header keys this module sets
Key = tuple[str, int]  # (CPV, BUILD_ID): an entry's identity (BUILD_ID 0 when it has none)
Doomed = Callable[[Collection[Key], Mapping[str, Key]], Iterable[Key]]  # (keys, key by PATH) → the keys to remove


@dataclass
class _State:
    """Where things are in an index file in this layout (byte offsets), as this process last wrote or scanned it."""

    header: dict[str, str]  # on-disk names, without TIMESTAMP / PACKAGES / VERSION
    stamp: int
    stamp_at: int
    count_at: int
    count_width: int
    end: int  # the terminator
    size: int
    killed: int  # blocks whose CPV line is turned off
    keys: dict[Key, tuple[int, str]] = field(default_factory=dict)  # → (offset of its "CPV:" line, PATH)
    paths: dict[str, Key] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)  # CPV lines of entries a later block replaces (a crash's leftovers)
    signature: tuple[int, int, int] = (0, 0, 0)  # inode, size, mtime_ns after the last write


_STATES: dict[Path, _State] = {}


# ----------------------------------------------------------------------------------------- public


def upsert_index(index_path: Path, entries: Iterable[IndexEntry], header: Mapping[str, str]) -> int:
    """Add ``entries`` to the index at ``index_path``, replacing any with the same (CPV, BUILD_ID)
    or the same PATH; returns the number of entries. Header: the old one, updated with ``header``,
    plus PACKAGES, TIMESTAMP (now, and always above the previous one) and VERSION 0. Under an
    exclusive lock (``.Packages.lock`` beside it), so concurrent publishers cannot lose each other's
    entries; readers see the index before the batch or after it, never a part of it."""
    batch: dict[Key, IndexEntry] = {}
    for entry in entries:  # a batch may name one package twice (a redelivered report): the last one wins
        batch = {k: e for k, e in batch.items() if not (entry.path and e.path == entry.path)}
        batch.pop((entry.cpv, entry.build_id), None)
        batch[(entry.cpv, entry.build_id)] = entry
    return _update(Path(index_path), header, list(batch.values()), lambda keys, paths: ())


def remove_from_index(index_path: Path, cpvs: Iterable[str], header: Mapping[str, str]) -> int:
    """Drop every entry (all BUILD_IDs) of ``cpvs``, like :func:`upsert_index` otherwise; returns the count left."""
    gone = set(cpvs)
    return _update(Path(index_path), header, [], lambda keys, paths: [k for k in keys if k[0] in gone])


def remove_paths_from_index(index_path: Path, paths: Iterable[str], header: Mapping[str, str]) -> int:
    """Drop the entries whose PATH is one of ``paths``, like :func:`upsert_index` otherwise; returns the count left."""
    gone = set(paths)
    return _update(Path(index_path), header, [], lambda keys, by_path: [by_path[p] for p in gone if p in by_path])


# ----------------------------------------------------------------------------------------- in place


def _update(path: Path, header: Mapping[str, str], new: list[IndexEntry], doomed: Doomed) -> int:
    with _locked(path):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            _STATES.pop(path, None)
            return _rewrite(path, b"", header, new, doomed)
        try:
            state = _current(fd, path)
            if state is not None and _in_place(fd, path, state, header, new, doomed):
                return len(state.keys)
            _STATES.pop(path, None)
            return _rewrite(path, _read_all(fd), header, new, doomed)
        except BaseException:
            _STATES.pop(path, None)  # whatever was half done, the next writer scans the file again
            raise
        finally:
            os.close(fd)


def _in_place(fd: int, path: Path, state: _State, header: Mapping[str, str], new: list[IndexEntry], doomed: Doomed) -> bool:
    """Apply the change to the file ``state`` describes, in place; False (nothing written) when it cannot be."""
    if _merged(state.header, header) != state.header:
        return False
    inherited = _inherited(state.header)
    blocks = [entry_block(e, inherited).encode() for e in new]
    payload = b"".join(blocks) + b"\n"
    replaced = (k for e in new for k in ((e.cpv, e.build_id), state.paths.get(e.path)) if k is not None and k in state.keys)
    kills = {*doomed(state.keys.keys(), state.paths), *replaced}
    count = len(state.keys) + len(new) - len(kills)
    if state.end + len(payload) > state.size or len(str(count)) > state.count_width or state.killed + len(kills) > max(64, count):
        return False
    stamp = max(int(time.time()), state.stamp + 1)
    os.pwrite(fd, payload[1:], state.end + 1)  # behind the terminator: nobody reads it yet
    os.pwrite(fd, payload[:1], state.end)  # over the terminator: the whole batch is visible at once
    os.pwrite(fd, f"{stamp:010d}".encode(), state.stamp_at)
    os.pwrite(fd, f"{count:0{state.count_width}d}".encode(), state.count_at)
    os.utime(fd, (stamp + PORTAGE_TIMESTAMP_TOLERANCE, stamp + PORTAGE_TIMESTAMP_TOLERANCE))
    os.fsync(fd)
    for key in kills:  # after the new blocks are in: a reader may see both for a moment, never neither
        offset, old_path = state.keys.pop(key)
        os.pwrite(fd, b"#", offset)
        if state.paths.get(old_path) == key:
            del state.paths[old_path]
    at = state.end
    for entry, block in zip(new, blocks, strict=True):
        state.keys[(entry.cpv, entry.build_id)] = (at + _cpv_line(block), entry.path)
        if entry.path:
            state.paths[entry.path] = (entry.cpv, entry.build_id)
        at += len(block)
    state.end, state.stamp, state.killed = at, stamp, state.killed + len(kills)
    state.signature = _signature(os.fstat(fd))
    path.with_name(path.name + ".gz").unlink(missing_ok=True)  # a stale Packages.gz would hide this index from clients
    return True


def _current(fd: int, path: Path) -> _State | None:
    """The layout of the open index: remembered when the file is the one this process last wrote, else scanned
    (and repaired); None when the file is not in this layout (written by portage or an older build-swarm)."""
    state = _STATES.get(path)
    if state is not None and state.signature == _signature(os.fstat(fd)) and os.pread(fd, 1, state.end) == b"\n":
        return state
    data = _read_all(fd)
    repaired = _repair(fd, data)
    state = _scan(repaired)
    if state is None:
        return None
    for offset in state.duplicates:
        os.pwrite(fd, b"#", offset)
    if repaired is not data or state.duplicates:
        os.fsync(fd)
    state.killed += len(state.duplicates)
    state.duplicates = []
    state.signature = _signature(os.fstat(fd))
    _STATES[path] = state
    return state


def _repair(fd: int, data: bytes) -> bytes:
    """``data`` with what a crash can leave behind the index's end cleared: bytes written after the terminator
    but never made visible are zeroed, and a visible batch with bytes that never reached the disk (zeros, after a
    power failure) is cut back to the entry before them. The same bytes when there is nothing to repair."""
    head_end, nul = data.find(b"\n\n"), data.find(b"\0")
    end = data.find(b"\n\n\n", max(head_end, 0))
    if head_end < 0 or nul < 0 or (0 <= end < nul and not data[end + 3 :].strip(b"\0")):
        return data
    if end < 0 or end > nul:  # zeros inside what portage reads: cut at the start of their block
        end = max(data.rfind(b"\n\n", 0, nul), head_end)
        os.pwrite(fd, b"\n", end + 2)
    stale = len(data[end + 3 :].rstrip(b"\0"))
    os.pwrite(fd, bytes(stale), end + 3)
    return data[: end + 2] + b"\n" + bytes(len(data) - end - 3)


def _scan(data: bytes) -> _State | None:
    """The layout of an index file's bytes, or None when it is not in this layout."""
    head_end = data.find(b"\n\n")
    end = data.find(b"\n\n\n", max(head_end, 0)) + 2
    head = data[: head_end + 1]
    stamp, count = _STAMP.search(head), _COUNT.search(head)
    if head_end < 0 or end < 2 or stamp is None or count is None:
        return None
    header = {k: v for k, v in (_line(raw) for raw in head.splitlines() if b":" in raw) if k not in _OWN}
    state = _State(header, int(stamp.group(1)), stamp.start(1), count.start(1), len(count.group(1)), end, len(data),
                   data.count(b"\n#PV: ", head_end, end))
    for match in _ENTRY.finditer(data, head_end, end):
        key, path = _key(match), (match.group(3) or b"").decode("utf-8", "replace")
        for older in {key, state.paths.get(path, key)} & state.keys.keys():
            state.duplicates.append(state.keys.pop(older)[0])
        state.keys[key] = (match.start(2) - 5, path)
        if path:
            state.paths[path] = key
    state.paths = {p: k for p, k in state.paths.items() if state.keys.get(k, (0, ""))[1] == p}
    return state


def _key(match: re.Match[bytes]) -> Key:
    build_id = _BUILD_ID.search(match.group(1))
    return match.group(2).decode("utf-8", "replace"), int(build_id.group(1)) if build_id else 0


def _line(raw: bytes) -> tuple[str, str]:
    key, _, value = raw.decode("utf-8", "replace").partition(":")
    return key, value[1:]


def _cpv_line(block: bytes) -> int:
    return 0 if block.startswith(b"CPV: ") else block.index(b"\nCPV: ") + 1


def _merged(old: Mapping[str, str], header: Mapping[str, str]) -> dict[str, str]:
    merged = {**old, **{k: " ".join(v.split()) for k, v in header.items()}}
    return {k: v for k, v in merged.items() if v and k not in _OWN}


def _inherited(header: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The header values entries inherit, under portage's internal key names (as ``index.entry_block`` takes them)."""
    on_disk = {"repository": "REPO"}
    return tuple((key, header.get(on_disk.get(key, key), "")) for key in INHERITED_KEYS)


# ----------------------------------------------------------------------------------------- a new file


def _rewrite(path: Path, data: bytes, header: Mapping[str, str], new: list[IndexEntry], doomed: Doomed) -> int:
    """Write the index anew from ``data`` (the current file, in any layout; b"" = none) changed as asked: sorted
    like portage writes it, then the terminator and fresh zeros. Returns the number of entries."""
    old_header, blocks = _blocks(data)
    merged = _merged(old_header, header)
    inherited = _inherited(merged)
    if blocks and inherited != _inherited(old_header):  # entries leave out what they inherit: render them again
        blocks = {(e.cpv, e.build_id): (e.path, entry_block(e, inherited).encode())
                  for e in parse_index(data.decode("utf-8", "replace"))[1]}
    gone = set(doomed(blocks.keys(), {p: k for k, (p, _) in blocks.items() if p}))
    paths = {e.path for e in new if e.path}
    kept = {k: v for k, v in blocks.items() if k not in gone and v[0] not in paths}
    kept.update(((e.cpv, e.build_id), (e.path, entry_block(e, inherited).encode())) for e in new)
    previous = old_header.get("TIMESTAMP", "").strip()
    stamp = max(int(time.time()), int(previous) + 1 if previous.isdigit() else 0)
    width = max(COUNT_WIDTH, len(str(len(kept))) + 1)
    head = header_block({**merged, "TIMESTAMP": f"{stamp:010d}", "PACKAGES": f"{len(kept):0{width}d}", "VERSION": "0"})
    text = b"".join([head.encode(), *(kept[k][1] for k in sorted(kept)), b"\n"])
    size = len(text) + max(MIN_SLACK, len(text) // 4)
    _write_sparse(path, text, size, stamp + PORTAGE_TIMESTAMP_TOLERANCE)
    state = _scan(text)
    if state is not None:
        state.size, state.signature = size, _signature(path.stat())
        _STATES[path] = state
    path.with_name(path.name + ".gz").unlink(missing_ok=True)
    return len(kept)


def _blocks(data: bytes) -> tuple[dict[str, str], dict[Key, tuple[str, bytes]]]:
    """Header (on-disk names) and the entry blocks portage reads (by key: PATH and the block's bytes), of an index
    in any layout: this one, or one portage or an older build-swarm wrote (no terminator, no zeros)."""
    head_end = data.find(b"\n\n")
    if head_end < 0:
        return {}, {}
    header = dict(_line(raw) for raw in data[:head_end].splitlines() if b":" in raw)
    end = data.find(b"\n\n\n", head_end)
    end = end + 2 if end >= 0 else len(data)
    found: dict[Key, tuple[str, bytes]] = {}
    for match in _ENTRY.finditer(data, head_end, end):
        stop = data.find(b"\n\n", match.end() - 1) + 2
        found[_key(match)] = ((match.group(3) or b"").decode("utf-8", "replace"), data[match.start() + 2 : stop])
    return header, found


def _write_sparse(path: Path, text: bytes, size: int, mtime: int) -> None:
    """Write ``text`` then zeros up to ``size`` (a hole: no disk used) to ``path``, through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
            handle.truncate(size)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.utime(handle.fileno(), (mtime, mtime))
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, at = [], 0
    while at < size:
        chunk = os.pread(fd, min(size - at, 1 << 30), at)
        if not chunk:
            break
        chunks.append(chunk)
        at += len(chunk)
    return b"".join(chunks)


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextmanager
def _locked(index_path: Path) -> Iterator[None]:
    index_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_path.with_name(f".{index_path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
