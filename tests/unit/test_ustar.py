"""The fast tar reader against tarfile: what it reads, it reads exactly as tarfile does; anything else it hands back.

Archives are written by tarfile in every format, then damaged byte by byte (seeded): whenever the fast reader
accepts an archive, tarfile must list the same members, types, sizes, link targets and data offsets.
"""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from swarm_celery.binhost import ustar

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}


def archive(entries: list[tuple[str, bytes | str | None, bytes]], fmt: int = tarfile.GNU_FORMAT, end: bool = True) -> bytes:
    """``(name, type, data)``: type tarfile.REGTYPE etc.; data is a regular file's content or a link's target."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind  # type: ignore[assignment]
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = out.getvalue()
    return raw if end else raw[: -2 * ustar.BLOCK]


def seen_by_tarfile(raw: bytes) -> list[tuple[str, str, int, str, int]]:
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return [(m.name, kind(m), m.size if m.isreg() else 0, m.linkname, m.offset_data) for m in tar.getmembers()]


def kind(m: tarfile.TarInfo | ustar.Member) -> str:
    return next(k for k, test in (("file", m.isreg), ("dir", m.isdir), ("symlink", m.issym), ("hardlink", m.islnk), ("dev", m.isdev))
                if test())


def seen_fast(raw: bytes) -> list[tuple[str, str, int, str, int]]:
    return [(m.name, kind(m), m.size, m.linkname, m.offset) for m in ustar.members(io.BytesIO(raw).read)]


PLAIN = [("image", tarfile.DIRTYPE, b""), ("image/usr/bin/tool", tarfile.REGTYPE, b"#!/bin/sh\n" * 60),
         ("image/usr/bin/empty", tarfile.REGTYPE, b""), ("image/usr/bin/block", tarfile.REGTYPE, b"x" * 512),
         ("image/usr/bin/alias", tarfile.SYMTYPE, b"tool"), ("image/usr/bin/again", tarfile.LNKTYPE, b"image/usr/bin/tool"),
         ("image/usr/share/doc/ü-umlaut", tarfile.REGTYPE, b"\x00\xff" * 300)]


@pytest.mark.parametrize("fmt", ["ustar", "gnu"])
def test_plain_archives_are_read_fast_and_exactly_as_tarfile_reads_them(fmt: str) -> None:
    raw = archive(PLAIN, FORMATS[fmt])
    assert seen_fast(raw) == seen_by_tarfile(raw)
    assert seen_fast(archive(PLAIN, FORMATS[fmt], end=False)) == seen_by_tarfile(raw)  # no end-of-archive blocks: ends at the data's end
    for empty in (b"", bytes(1024)):  # tarfile refuses an empty archive: so does the fast reader, by handing it over
        with pytest.raises(ustar.Unsupported):
            seen_fast(empty)


@pytest.mark.parametrize(("entries", "fmt"), [
    ([("image/" + "long/" * 30 + "name", tarfile.REGTYPE, b"x")], "gnu"),  # GNU long-name header
    ([("image/" + "long/" * 30 + "name", tarfile.REGTYPE, b"x")], "ustar"),  # the name split into a prefix
    ([("image/" + "long/" * 30 + "name", tarfile.REGTYPE, b"x")], "pax"),  # a pax header
    ([("image/fifo", tarfile.FIFOTYPE, b"")], "gnu"),
    ([("image/tty", tarfile.CHRTYPE, b"")], "gnu"),
    ([("image/ok", tarfile.REGTYPE, b"x"), ("image/ünïcode-in-pax", tarfile.REGTYPE, b"y")], "pax"),
])
def test_anything_but_a_plain_archive_is_handed_to_tarfile(entries: list[tuple[str, bytes, bytes]], fmt: str) -> None:
    raw = archive(entries, FORMATS[fmt])
    with pytest.raises(ustar.Unsupported):
        seen_fast(raw)
    assert seen_by_tarfile(raw)  # which reads it


def header_of(raw: bytes, index: int = 0) -> bytearray:
    return bytearray(raw[index * ustar.BLOCK:(index + 1) * ustar.BLOCK])


def rechecksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


@pytest.mark.parametrize("damage", [
    lambda b: bytes(b[:148]) + b"0000000\0" + bytes(b[156:]),  # a wrong checksum
    lambda b: rechecksum(bytearray(b[:124]) + b"\x80" + bytes(11) + b[136:]),  # a base-256 size
    lambda b: rechecksum(bytearray(b[:124]) + b"-0000000001\0" + b[136:]),  # a negative size
    lambda b: rechecksum(bytearray(b[:124]) + b"0000000009z\0" + b[136:]),  # not octal
    lambda b: rechecksum(bytearray(b[:345]) + b"prefix" + bytes(149) + b[500:]),  # a ustar prefix
    lambda b: rechecksum(bytearray(b[:257]) + b"nottar\0\0" + b[265:]),  # no magic
    lambda b: rechecksum(bytearray(b[:156]) + b"x" + b[157:]),  # a pax header
    lambda b: rechecksum(bytearray(b[:156]) + b"\0" + b[157:99] + b"/" + b[100:]),  # an old-style directory
    lambda b: bytes(b[:300]),  # a truncated header
])
def test_damaged_headers_are_handed_to_tarfile(damage: object) -> None:
    raw = archive([("image/a", tarfile.REGTYPE, b"data")])
    damaged = damage(header_of(raw)) + raw[ustar.BLOCK:]  # type: ignore[operator]
    with pytest.raises(ustar.Unsupported):
        seen_fast(damaged)


def test_an_archive_that_ends_inside_a_member_is_handed_to_tarfile() -> None:
    raw = archive([("image/a", tarfile.REGTYPE, b"x" * 5000)], end=False)
    with pytest.raises(ustar.Unsupported):
        seen_fast(raw[:3000])


def test_whenever_damaged_archives_are_read_fast_tarfile_reads_the_same() -> None:
    rng = random.Random(20261204)
    originals = [archive(PLAIN, FORMATS[f]) for f in ("ustar", "gnu")]
    accepted = 0
    for _ in range(3000):
        raw = bytearray(rng.choice(originals))
        block = rng.randrange(len(raw) // ustar.BLOCK)
        for _ in range(rng.randint(1, 3)):
            raw[block * ustar.BLOCK + rng.randrange(ustar.BLOCK)] = rng.choice((0, 32, 47, 48, 49, 55, 56, 120, 128, 255, rng.randrange(256)))
        if rng.random() < 0.5 and raw[block * ustar.BLOCK + 257:block * ustar.BLOCK + 262] == b"ustar":  # keep the checksum right
            raw[block * ustar.BLOCK:(block + 1) * ustar.BLOCK] = rechecksum(bytearray(raw[block * ustar.BLOCK:(block + 1) * ustar.BLOCK]))
        if rng.random() < 0.1:
            raw = raw[:rng.randrange(len(raw))]
        try:
            fast = seen_fast(bytes(raw))
        except ustar.Unsupported:
            continue
        accepted += 1
        assert fast == seen_by_tarfile(bytes(raw)), bytes(raw)
    assert accepted > 300  # the damage often leaves a plain archive: the comparison ran
