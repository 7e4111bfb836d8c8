"""The binhost Packages index text: exact rendering and parsing (updates on disk: tests/unit/test_packages_file.py).

Portage's own reader and binarytree are exercised in tests/integration/test_binhost_portage.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import IndexEntry, entry_from_binpkg, parse_index, render_index

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
