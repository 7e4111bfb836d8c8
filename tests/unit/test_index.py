"""The binhost Packages index, pure: exact rendering, parsing, upsert/remove, atomicity under concurrency.

Portage's own reader and binarytree are exercised in tests/integration/test_binhost_portage.py.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import IndexEntry, entry_from_binpkg, parse_index, remove_from_index, render_index, upsert_index

HEADER = {"ARCH": "amd64", "CHOST": "x86_64-pc-linux-gnu", "ACCEPT_KEYWORDS": "amd64"}


def entry(cpv: str, build_id: int = 1, **kw: object) -> IndexEntry:
    cat, pf = cpv.split("/")
    pn = pf.rsplit("-", 1)[0]
    values: dict[str, object] = {
        "cpv": cpv, "path": f"{cat}/{pn}/{pf}-{build_id}.gpkg.tar", "sha1": hashlib.sha1(cpv.encode()).hexdigest(), "size": 10240,
        "build_time": 1_700_000_000, "slot": "0", "repo": "gentoo", "use": ("amd64",), "build_id": build_id, **kw,
    }
    return IndexEntry(**values)  # type: ignore[arg-type]


TMUX = entry("app-misc/tmux-3.5a", md5="0" * 32, rdepend="sys-libs/ncurses:0/6=", iuse="utempter vim-syntax", keywords="amd64",
             defined_phases="configure install", license="ISC", mtime=1_700_000_100)

GOLDEN = """\
ACCEPT_KEYWORDS: amd64
ARCH: amd64
CHOST: x86_64-pc-linux-gnu
PACKAGES: 2
TIMESTAMP: 1700000200
VERSION: 0

BUILD_ID: 1
BUILD_TIME: 1700000000
CPV: app-misc/tmux-3.5a
DEFINED_PHASES: configure install
EAPI: 8
IUSE: utempter vim-syntax
KEYWORDS: amd64
LICENSE: ISC
MD5: 00000000000000000000000000000000
PATH: app-misc/tmux/tmux-3.5a-1.gpkg.tar
RDEPEND: sys-libs/ncurses:0/6=
SHA1: {tmux_sha1}
SIZE: 10240
USE: amd64
MTIME: 1700000100
REPO: gentoo

BUILD_ID: 2
BUILD_TIME: 1700000000
CHOST: aarch64-unknown-linux-gnu
CPV: dev-lang/python-3.12.8_p1
PATH: dev-lang/python/python-3.12.8_p1-2.gpkg.tar
SHA1: {py_sha1}
SIZE: 10240
SLOT: 3.12/3.12
USE: amd64 ssl
REPO: supplement

"""


def test_render_matches_portage_layout_exactly() -> None:
    python = entry("dev-lang/python-3.12.8_p1", 2, slot="3.12/3.12", repo="supplement", use=("amd64", "ssl"), eapi="0",
                   chost="aarch64-unknown-linux-gnu")
    text = render_index({**HEADER, "TIMESTAMP": "1700000200", "VERSION": "0", "PACKAGES": "99"}, [python, TMUX])
    assert text == GOLDEN.format(tmux_sha1=TMUX.sha1, py_sha1=python.sha1)


def test_defaults_and_inherited_values_are_omitted() -> None:
    plain = entry("a-b/c-1", slot="0", eapi="0", use=(), build_time=0, chost="x86_64-pc-linux-gnu")
    block = render_index({**HEADER, "REPO": "gentoo"}, [plain]).split("\n\n")[1]
    assert block.splitlines() == ["BUILD_ID: 1", "CPV: a-b/c-1", "PATH: a-b/c/c-1-1.gpkg.tar", f"SHA1: {plain.sha1}", "SIZE: 10240"]
    header = render_index({**HEADER, "REPO": "gentoo", "EMPTY": ""}, []).splitlines()
    assert "REPO: gentoo" in header and not any(line.startswith("EMPTY") for line in header)


def test_values_are_kept_on_one_line_and_bad_keys_refused() -> None:
    text = render_index(HEADER, [entry("a-b/c-1", rdepend="x\n  y\tz")])
    assert "RDEPEND: x y z\n" in text
    with pytest.raises(ValueError):
        render_index({"BAD KEY": "1"}, [])
    with pytest.raises(ValueError):
        render_index(HEADER, [entry("a-b/c-1", extra=(("A:B", "1"),))])


def test_parse_inverts_render() -> None:
    entries = [TMUX, entry("dev-lang/python-3.12.8_p1", 2, slot="3.12/3.12", chost="aarch64-unknown-linux-gnu",
                           extra=(("DESC", "Python"), ("IDEPEND", "dev-lang/x")))]
    header, parsed = parse_index(render_index({**HEADER, "TIMESTAMP": "5", "VERSION": "0"}, entries))
    assert header == {**HEADER, "TIMESTAMP": "5", "VERSION": "0", "PACKAGES": "2"}
    assert parsed[0] == TMUX.__class__(**{**TMUX.__dict__, "chost": "x86_64-pc-linux-gnu"})  # CHOST inherited from the header
    assert parsed[1] == entries[1]
    assert render_index(header, parsed) == render_index({**HEADER, "TIMESTAMP": "5", "VERSION": "0"}, entries)


def test_parse_follows_portage_reading_rules() -> None:
    text = (
        "CHOST: c\nREPO: gentoo\nVERSION: 0\n\n"
        "CPV: a-b/old-1\nUNKNOWN: kept\n\n"  # no PATH, no EAPI, no SLOT: portage defaults
        "SIZE: 1\n\n"  # no CPV: skipped
        "CPV: a-b/x-2\nREPO: other\nCHOST: d\nEAPI: 8\nSLOT: 1\n\n"
        "\n"  # an empty block ends the body, as in PackageIndex.readBody
        "CPV: a-b/never-1\n\n"
    )
    header, entries = parse_index(text)
    assert header == {"CHOST": "c", "REPO": "gentoo", "VERSION": "0"}
    assert [e.cpv for e in entries] == ["a-b/old-1", "a-b/x-2"]
    old, new = entries
    assert (old.eapi, old.slot, old.repo, old.chost, old.path, old.build_id) == ("0", "0", "gentoo", "c", "", 0)
    assert old.extra == (("UNKNOWN", "kept"),)
    assert (new.eapi, new.slot, new.repo, new.chost) == ("8", "1", "other", "d")


def test_upsert_creates_replaces_and_sorts(tmp_path: Path) -> None:
    index = tmp_path / "amd64" / "Packages"
    assert upsert_index(index, [entry("dev-lang/python-3.12.8_p1")], HEADER) == 1
    assert upsert_index(index, [entry("app-misc/tmux-3.5a"), entry("app-misc/tmux-3.5a", 2)], HEADER) == 3
    assert upsert_index(index, [entry("app-misc/tmux-3.5a", size=1)], {"ARCH": "amd64", "PROFILE": "default/linux/amd64/23.0"}) == 3
    header, entries = parse_index(index.read_text())
    assert [(e.cpv, e.build_id, e.size) for e in entries] == [
        ("app-misc/tmux-3.5a", 1, 1), ("app-misc/tmux-3.5a", 2, 10240), ("dev-lang/python-3.12.8_p1", 1, 10240)]
    assert header["PACKAGES"] == "3" and header["VERSION"] == "0" and header["CHOST"] == HEADER["CHOST"]
    assert header["PROFILE"] == "default/linux/amd64/23.0" and header["ACCEPT_KEYWORDS"] == "amd64"
    assert sorted(p.name for p in index.parent.iterdir()) == [".Packages.lock", "Packages"]
    assert index.stat().st_mode & 0o777 == 0o644


def test_upsert_replaces_an_entry_with_the_same_path(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1")], HEADER)
    upsert_index(index, [entry("a-b/c-1", 7, path="a-b/c/c-1-1.gpkg.tar")], HEADER)
    assert [(e.cpv, e.build_id) for e in parse_index(index.read_text())[1]] == [("a-b/c-1", 7)]


def test_timestamp_strictly_increases_and_the_file_mtime_is_portages_if_modified_since(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    stamps = []
    for i in range(5):
        upsert_index(index, [entry(f"a-b/c-{i}")], HEADER)
        stamps.append(int(parse_index(index.read_text())[0]["TIMESTAMP"]))
        assert int(index.stat().st_mtime) == stamps[-1] + 5  # portage asks If-Modified-Since TIMESTAMP + 5 s
    assert stamps == sorted(set(stamps)) and stamps[0] >= int(time.time()) - 5


def test_stale_packages_gz_is_removed(tmp_path: Path) -> None:
    (tmp_path / "Packages.gz").write_bytes(b"stale")
    upsert_index(tmp_path / "Packages", [entry("a-b/c-1")], HEADER)
    assert not (tmp_path / "Packages.gz").exists()


def test_remove_from_index(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1"), entry("a-b/c-1", 2), entry("a-b/d-1")], HEADER)
    assert remove_from_index(index, ["a-b/c-1", "x-y/absent-1"], HEADER) == 1
    header, entries = parse_index(index.read_text())
    assert [e.cpv for e in entries] == ["a-b/d-1"] and header["PACKAGES"] == "1"
    assert remove_from_index(tmp_path / "other" / "Packages", ["a-b/c-1"], HEADER) == 0


def test_entry_from_binpkg(tmp_path: Path) -> None:
    meta = BinpkgMetadata(cpv="app-misc/tmux-3.5a", slot="0", repo="gentoo", arch="amd64", use=("amd64",), chost="x86_64-pc-linux-gnu",
                          build_time=17, rdepend="sys-libs/ncurses", build_id=4)
    (tmp_path / "app-misc" / "tmux").mkdir(parents=True)
    path = write_gpkg(tmp_path / "app-misc" / "tmux", meta, {"usr/bin/tmux": b"x"})
    got = entry_from_binpkg(tmp_path, "app-misc/tmux/tmux-3.5a-4.gpkg.tar", read_gpkg_metadata(path))
    data = path.read_bytes()
    assert (got.cpv, got.build_id, got.slot, got.repo, got.use, got.eapi, got.rdepend) == (
        "app-misc/tmux-3.5a", 4, "0", "gentoo", ("amd64",), "8", "sys-libs/ncurses")
    assert got.sha1 == hashlib.sha1(data).hexdigest() and got.md5 == hashlib.md5(data).hexdigest() and got.size == len(data)
    assert got.mtime == int(path.stat().st_mtime) and got.build_time == 17 and got.chost == "x86_64-pc-linux-gnu"
    no_id = entry_from_binpkg(tmp_path, "app-misc/tmux/tmux-3.5a-4.gpkg.tar", {**read_gpkg_metadata(path), "BUILD_ID": ""})
    assert no_id.build_id == 4


def test_readers_never_see_a_partial_index(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/seed-1")], HEADER)
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not done.is_set():
            text = index.read_text()
            header, entries = parse_index(text)
            if not text.endswith("\n\n") or int(header["PACKAGES"]) != len(entries) or any(len(e.sha1) != 40 for e in entries):
                problems.append(text)
            seen.append(len(entries))
            time.sleep(0.0005)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            upsert_index(index, [entry(f"a-b/pkg{i:03d}-1", rdepend=" ".join(f"dep/x{j}" for j in range(i % 20)))], HEADER)
    finally:
        done.set()
        thread.join()
    assert not problems
    assert len(seen) > 10 and seen == sorted(seen) and parse_index(index.read_text())[1][-1].cpv == "a-b/seed-1"
    assert len(parse_index(index.read_text())[1]) == 201
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_concurrent_upserts_lose_nothing(tmp_path: Path) -> None:
    index = tmp_path / "Packages"

    def publisher(n: int) -> None:
        for i in range(25):
            upsert_index(index, [entry(f"cat-{n}/pkg-{i}")], HEADER)

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    header, entries = parse_index(index.read_text())
    assert len(entries) == 100 and header["PACKAGES"] == "100"
