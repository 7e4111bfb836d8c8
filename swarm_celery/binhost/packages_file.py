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
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from swarm_celery.binhost.index import (
    INHERITED_KEYS,
    PORTAGE_TIMESTAMP_TOLERANCE,
    IndexEntry,
    entry_block,
    header_block,
    parse_index,
    write_atomic,
)
from swarm_celery.binhost.index_layout import ENTRY, OWN, Key, Layout, frame, key_of, line, load, read_sidecar, repair, save, scan

COUNT_WIDTH = 7  # PACKAGES is written zero-padded to this many digits (at least), so it can be overwritten in place
MIN_SLACK = 4 << 20  # zeros after the terminator, at least (a hole: no disk used); else a quarter of what is before it
SIDECAR_EVERY = 4 << 20  # the sidecar is written again once batches have added this many bytes since
Doomed = Callable[[Collection[Key], Mapping[str, Key]], Iterable[Key]]  # (keys, key by PATH) → the keys to remove
_STATES: dict[Path, Layout] = {}


# ----------------------------------------------------------------------------------------- public


def upsert_index(index_path: Path, entries: Iterable[IndexEntry], header: Mapping[str, str]) -> int:
    """Add ``entries`` to the index at ``index_path``, replacing any with the same (CPV, BUILD_ID)
    or the same PATH; returns the number of entries. Header: the old one, updated with ``header``,
    plus PACKAGES, TIMESTAMP (now, and always above the previous one) and VERSION 0. Under an
    exclusive lock (``.Packages.lock`` beside it), so concurrent publishers cannot lose each other's
    entries; readers see the index before the batch or after it, never a part of it."""
    batch: dict[Key, IndexEntry] = {}
    by_path: dict[str, Key] = {}
    for entry in entries:  # a batch may name one package twice (a redelivered report): the last one wins
        key = (entry.cpv, entry.build_id)
        for older in {key, by_path.get(entry.path, key)} & batch.keys():
            by_path.pop(batch.pop(older).path, None)
        batch[key] = entry
        if entry.path:
            by_path[entry.path] = key
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


def _in_place(fd: int, path: Path, state: Layout, header: Mapping[str, str], new: list[IndexEntry], doomed: Doomed) -> bool:
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
    if state.end - state.saved_end > SIDECAR_EVERY:
        save(state, _sidecar(path), state.signature[0])
    path.with_name(path.name + ".gz").unlink(missing_ok=True)  # a stale Packages.gz would hide this index from clients
    return True


def _current(fd: int, path: Path) -> Layout | None:
    """The layout of the open index: remembered when the file is the one this process last wrote, else read from the
    sidecar and the file (repairing what a crash left); None when the file is not in this layout (portage or an
    older build-swarm wrote it)."""
    state = _STATES.get(path)
    st = os.fstat(fd)
    if state is not None and state.signature == _signature(st) and os.pread(fd, 1, state.end) == b"\n":
        return state
    data = _read_all(fd)
    saved = read_sidecar(data, _sidecar(path), st.st_ino)
    repaired = repair(fd, data, saved.end if saved is not None else 0)
    state = (load(repaired, saved) if saved is not None else None) or scan(repaired)
    if state is None:
        return None
    for offset in state.duplicates:
        os.pwrite(fd, b"#", offset)
    if repaired is not data or state.duplicates:
        os.fsync(fd)
    state.killed += len(state.duplicates)
    state.duplicates = []
    state.signature = _signature(os.fstat(fd))
    if not state.saved_end or state.end - state.saved_end > SIDECAR_EVERY:
        save(state, _sidecar(path), st.st_ino)
    _STATES[path] = state
    return state


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.offsets")


def _cpv_line(block: bytes) -> int:
    return 0 if block.startswith(b"CPV: ") else block.index(b"\nCPV: ") + 1


def _merged(old: Mapping[str, str], header: Mapping[str, str]) -> dict[str, str]:
    merged = {**old, **{k: " ".join(v.split()) for k, v in header.items()}}
    return {k: v for k, v in merged.items() if v and k not in OWN}


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
    order = sorted(kept)
    text = b"".join([head.encode(), *(kept[k][1] for k in order), b"\n"])
    size = len(text) + max(MIN_SLACK, len(text) // 4)
    write_atomic(path, text, stamp + PORTAGE_TIMESTAMP_TOLERANCE, size)
    state = frame(text)
    if state is not None:  # always: the layout of what was just written, without scanning it
        at = len(head.encode())
        for key in order:
            block_path, block = kept[key]
            state.keys[key] = (at + _cpv_line(block), block_path)
            if block_path:
                state.paths[block_path] = key
            at += len(block)
        state.size, state.signature = size, _signature(path.stat())
        save(state, _sidecar(path), state.signature[0])
        _STATES[path] = state
    path.with_name(path.name + ".gz").unlink(missing_ok=True)
    return len(kept)


def _blocks(data: bytes) -> tuple[dict[str, str], dict[Key, tuple[str, bytes]]]:
    """Header (on-disk names) and the entry blocks portage reads (by key: PATH and the block's bytes), of an index
    in any layout: this one, or one portage or an older build-swarm wrote (no terminator, no zeros)."""
    head_end = data.find(b"\n\n")
    if head_end < 0:
        return {}, {}
    header = dict(line(raw) for raw in data[:head_end].splitlines() if b":" in raw)
    end = data.find(b"\n\n\n", head_end)
    end = end + 2 if end >= 0 else len(data)
    found: dict[Key, tuple[str, bytes]] = {}
    for match in ENTRY.finditer(data, head_end, end):
        stop = data.find(b"\n\n", match.end() - 1) + 2
        found[key_of(match)] = ((match.group(3) or b"").decode("utf-8", "replace"), data[match.start() + 2 : stop])
    return header, found


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
