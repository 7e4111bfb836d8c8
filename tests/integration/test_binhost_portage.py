"""Our GPKG writer/reader and Packages index against real portage 3.0.83.

Every portage call runs in a subprocess (``DRIVER`` below) with a private, throw-away EPREFIX
(PORTAGE_OVERRIDE_EPREFIX is set before portage is imported), so nothing touches the host's
/etc/portage or /var/db. The driver uses portage only, never swarm_celery.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg import BinpkgMetadata, InvalidBinpkg, write_gpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import IndexEntry, entry_from_binpkg, parse_index, render_index
from swarm_celery.binhost.packages_file import remove_paths_from_index, upsert_index
from tests.integration.portage_kit import portage_run

KEYS = ["CATEGORY", "PF", "SLOT", "USE", "repository", "CHOST", "BUILD_ID", "EAPI", "IUSE", "RDEPEND"]
TMUX = BinpkgMetadata(
    cpv="app-misc/tmux-3.5a", slot="0", repo="gentoo", arch="amd64", use=("amd64", "utempter"), iuse=("utempter", "vim-syntax"),
    keywords="amd64", chost="x86_64-pc-linux-gnu", build_time=1_700_000_000, rdepend="sys-libs/ncurses:0/6=", build_id=1,
)
PYTHON = BinpkgMetadata(
    cpv="dev-lang/python-3.12.8_p1", slot="3.12/3.12", repo="supplement", arch="amd64", use=("amd64", "ssl"),
    chost="x86_64-pc-linux-gnu", build_time=1_700_000_001, build_id=1,
)
FILES = {"usr/bin/tmux": b"#!/bin/sh\necho tmux\n", "usr/share/doc/tmux-3.5a/README": b"hello\n"}
HEADER = {"ARCH": "amd64", "CHOST": "x86_64-pc-linux-gnu", "ACCEPT_KEYWORDS": "amd64"}


def pn_of(pf: str) -> str:
    return re.sub(r"-r\d+$", "", pf).rsplit("-", 1)[0]


def publish(hub: Path, meta: BinpkgMetadata, files: dict[str, bytes] | None = None) -> tuple[Path, IndexEntry]:
    """Write a package into the binpkg-multi-instance layout cat/pn/pf-N.gpkg.tar and index it."""
    category, pf = meta.cpv.split("/")
    pn = pn_of(pf)
    (hub / category / pn).mkdir(parents=True, exist_ok=True)
    path = write_gpkg(hub / category / pn, meta, files if files is not None else FILES, modes={"usr/bin/tmux": 0o755})
    entry = entry_from_binpkg(hub, str(path.relative_to(hub)), read_gpkg_metadata(path))
    upsert_index(hub / "Packages", [entry], HEADER)
    return path, entry


# ----------------------------------------------------------------------------------------- GPKG


@pytest.mark.parametrize("compression", ["gzip", "xz"])
def test_portage_reads_and_verifies_our_gpkg(tmp_path: Path, compression: str) -> None:
    path = write_gpkg(tmp_path, PYTHON if compression == "xz" else TMUX, FILES, compression=compression, modes={"usr/bin/tmux": 0o755})
    got = portage_run(tmp_path, {"op": "read", "paths": [str(path)], "keys": KEYS})[str(path)]
    assert "error" not in got, got
    meta = got["metadata"]
    expected = PYTHON if compression == "xz" else TMUX
    assert f"{meta['CATEGORY'].strip()}/{meta['PF'].strip()}" == expected.cpv
    assert meta["SLOT"] == expected.slot + "\n" and meta["USE"] == " ".join(expected.use) + "\n"
    assert meta["repository"] == expected.repo + "\n" and meta["CHOST"] == "x86_64-pc-linux-gnu\n" and meta["BUILD_ID"] == "1\n"
    assert got["format"] == "gpkg"
    assert got["image"] == {
        "usr/bin/tmux": [FILES["usr/bin/tmux"].hex(), "0o755"],
        "usr/share/doc/tmux-3.5a/README": [FILES["usr/share/doc/tmux-3.5a/README"].hex(), "0o644"],
    }


def test_portage_and_we_reject_the_same_corrupted_files(tmp_path: Path) -> None:
    good = write_gpkg(tmp_path, TMUX, FILES).read_bytes()
    image_at = good.index(b"tmux-3.5a-1/image.tar.gz") + 512 + 40
    variants = {
        "flipped-image-byte": good[:image_at] + bytes([good[image_at] ^ 1]) + good[image_at + 1 :],
        "truncated": good[:image_at],  # inside the image member (the tail of a small GPKG is only tar padding)
        "garbage": b"\x89garbage" * 2000,
    }
    paths = []
    for name, data in variants.items():
        bad = tmp_path / f"{name}.gpkg.tar"
        bad.write_bytes(data)
        paths.append(str(bad))
        with pytest.raises(InvalidBinpkg):
            read_gpkg_metadata(bad)
    got = portage_run(tmp_path, {"op": "read", "paths": paths, "keys": KEYS})
    for path in paths:
        assert "error" in got[path], (path, got[path])
    assert "checksum mismatched" in got[paths[0]]["error"]


@pytest.mark.parametrize("compression", ["gzip", "xz", "bzip2", "zstd"])
def test_we_read_what_portage_writes(tmp_path: Path, compression: str) -> None:
    if shutil.which({"bzip2": "bzip2", "zstd": "zstd"}.get(compression, compression)) is None:
        pytest.skip(f"{compression} program not installed")
    image = tmp_path / "image"
    (image / "usr" / "bin").mkdir(parents=True)
    (image / "usr" / "bin" / "tmux").write_bytes(b"#!/bin/sh\n")
    (image / "usr" / "bin" / "tmux-link").symlink_to("tmux")
    metadata = {"CATEGORY": "app-misc\n", "PF": "tmux-3.5a\n", "SLOT": "0\n", "USE": "amd64 utempter\n", "repository": "gentoo\n",
                "CHOST": "x86_64-pc-linux-gnu\n", "BUILD_ID": "2\n", "EAPI": "8\n"}
    path = tmp_path / "tmux-3.5a-2.gpkg.tar"
    portage_run(tmp_path, {"op": "write", "basename": "tmux-3.5a-2", "path": str(path), "image_dir": str(image), "metadata": metadata,
                           "make_conf": f'BINPKG_COMPRESS="{compression}"'})
    assert read_gpkg_metadata(path) == {k: v.strip() for k, v in metadata.items()}


# ----------------------------------------------------------------------------------------- Packages index


def test_portage_package_index_reads_our_index_byte_for_byte(tmp_path: Path) -> None:
    entries = [
        IndexEntry(cpv="dev-lang/python-3.12.8_p1", path="dev-lang/python/python-3.12.8_p1-2.gpkg.tar", sha1="ab" * 20, size=123,
                   build_time=17, slot="3.12/3.12", repo="supplement", use=("amd64", "ssl"), md5="cd" * 16, build_id=2,
                   rdepend="dev-libs/openssl:0/3= sys-libs/zlib", iuse="ssl +readline", keywords="~amd64", chost="aarch64-unknown-linux-gnu",
                   mtime=1_700_000_100, extra=(("DESC", "Python"), ("PROPERTIES", "live"))),
        IndexEntry(cpv="app-misc/tmux-3.5a", path="app-misc/tmux/tmux-3.5a-1.gpkg.tar", sha1="ef" * 20, size=99, build_time=0, slot="0",
                   repo="gentoo", use=(), eapi="0", chost="x86_64-pc-linux-gnu"),
    ]
    text = render_index({**HEADER, "TIMESTAMP": "1700000000", "VERSION": "0"}, entries)
    got = portage_run(tmp_path, {"op": "pkgindex", "text": text})
    assert got["rewritten"] == text
    assert {k: got["header"][k] for k in ("ARCH", "CHOST", "PACKAGES", "TIMESTAMP", "VERSION")} == {
        "ARCH": "amd64", "CHOST": "x86_64-pc-linux-gnu", "PACKAGES": "2", "TIMESTAMP": "1700000000", "VERSION": "0"}
    tmux, python = got["packages"]
    assert (tmux["CPV"], tmux["SLOT"], tmux["EAPI"], tmux["CHOST"], tmux["repository"], tmux["USE"]) == (
        "app-misc/tmux-3.5a", "0", "0", "x86_64-pc-linux-gnu", "gentoo", "")
    assert (python["SLOT"], python["BUILD_ID"], python["CHOST"], python["repository"], python["_mtime_"], python["DESCRIPTION"]) == (
        "3.12/3.12", "2", "aarch64-unknown-linux-gnu", "supplement", "1700000100", "Python")
    assert (python["PATH"], python["SHA1"], python["MD5"], python["SIZE"], python["USE"]) == (
        "dev-lang/python/python-3.12.8_p1-2.gpkg.tar", "ab" * 20, "cd" * 16, "123", "amd64 ssl")


def test_binarytree_finds_local_packages_through_our_index(tmp_path: Path) -> None:
    hub = tmp_path / "pkgdir"
    publish(hub, TMUX)
    publish(hub, PYTHON)
    keys = ["SLOT", "USE", "repository", "BUILD_ID", "EAPI", "CHOST", "RDEPEND"]
    trusted = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(hub), "keys": keys})  # default FEATURES=pkgdir-index-trusted
    scanned = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(hub), "keys": keys, "make_conf": 'FEATURES="-pkgdir-index-trusted"'})
    for got in (trusted, scanned):
        assert got["cpvs"] == ["app-misc/tmux-3.5a", "dev-lang/python-3.12.8_p1"] and got["invalids"] == []
        assert got["aux"]["app-misc/tmux-3.5a"] == {"SLOT": "0", "USE": "amd64 utempter", "repository": "gentoo", "BUILD_ID": "1",
                                                   "EAPI": "8", "CHOST": "x86_64-pc-linux-gnu", "RDEPEND": "sys-libs/ncurses:0/6="}
        assert got["aux"]["dev-lang/python-3.12.8_p1"]["SLOT"] == "3.12/3.12"
        assert got["aux"]["dev-lang/python-3.12.8_p1"]["repository"] == "supplement"
        assert not any(got["remote"].values())


def test_binarytree_trusts_the_index_alone_by_default(tmp_path: Path) -> None:
    hub = tmp_path / "pkgdir"
    publish(hub, TMUX)
    hidden = hub / "app-misc" / "other"
    hidden.mkdir()
    write_gpkg(hidden, BinpkgMetadata(cpv="app-misc/other-1", slot="0", repo="gentoo", arch="amd64", use=(), build_id=1), {})
    got = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(hub), "keys": ["SLOT"]})
    assert got["cpvs"] == ["app-misc/tmux-3.5a"]  # an unindexed package is invisible: the index is the source of truth


def test_our_parser_round_trips_an_index_portage_wrote(tmp_path: Path) -> None:
    hub = tmp_path / "pkgdir"
    for meta in (TMUX, PYTHON):
        category, pf = meta.cpv.split("/")
        (hub / category / pn_of(pf)).mkdir(parents=True)
        write_gpkg(hub / category / pn_of(pf), meta, FILES)
    portage_run(tmp_path, {"op": "bintree", "pkgdir": str(hub), "keys": ["SLOT"], "make_conf": 'FEATURES="-pkgdir-index-trusted"'})
    text = (hub / "Packages").read_text()  # written by portage's binarytree
    header, entries = parse_index(text)
    assert header["VERSION"] == "0" and header["PACKAGES"] == "2"
    assert [(e.cpv, e.slot, e.repo, e.use, e.build_id, e.path) for e in entries] == [
        ("app-misc/tmux-3.5a", "0", "gentoo", ("amd64", "utempter"), 1, "app-misc/tmux/tmux-3.5a-1.gpkg.tar"),
        ("dev-lang/python-3.12.8_p1", "3.12/3.12", "supplement", ("amd64", "ssl"), 1, "dev-lang/python/python-3.12.8_p1-1.gpkg.tar"),
    ]
    assert render_index(header, entries) == text


def test_binarytree_uses_our_index_as_a_remote_binhost(tmp_path: Path) -> None:
    hub = tmp_path / "binhost"
    tmux_path, tmux_entry = publish(hub, TMUX)
    python_path, _ = publish(hub, PYTHON)
    tmux_path.unlink()  # a client learns everything from Packages; it fetches a package only to merge it
    python_path.unlink()
    keys = ["SLOT", "USE", "repository", "BUILD_ID", "EAPI", "RDEPEND", "SIZE", "MD5"]
    got = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(tmp_path / "empty"), "binhost": str(hub), "keys": keys})
    assert got["cpvs"] == ["app-misc/tmux-3.5a", "dev-lang/python-3.12.8_p1"] and all(got["remote"].values())
    assert got["aux"]["app-misc/tmux-3.5a"] == {
        "SLOT": "0", "USE": "amd64 utempter", "repository": "gentoo", "BUILD_ID": "1", "EAPI": "8", "RDEPEND": "sys-libs/ncurses:0/6=",
        "SIZE": str(tmux_entry.size), "MD5": tmux_entry.md5}
    assert got["aux"]["dev-lang/python-3.12.8_p1"]["SLOT"] == "3.12/3.12"


def test_portage_reads_an_index_updated_in_place(tmp_path: Path) -> None:
    hub = tmp_path / "binhost"
    publish(hub, TMUX)
    python_path, python_entry = publish(hub, PYTHON)
    inode = (hub / "Packages").stat().st_ino
    extra = IndexEntry(cpv="app-misc/extra-1", path="app-misc/extra/extra-1-1.gpkg.tar", sha1="12" * 20, size=5, build_time=1,
                       slot="0", repo="gentoo", use=(), mtime=1_700_000_000)
    upsert_index(hub / "Packages", [extra], HEADER)
    remove_paths_from_index(hub / "Packages", [python_entry.path], {})  # its block stays in the file, its CPV line turned off
    data = (hub / "Packages").read_bytes()
    assert (hub / "Packages").stat().st_ino == inode and b"\n#PV: dev-lang/python" in data and data.endswith(b"\0" * 1024)
    keys = ["SLOT", "BUILD_ID", "SIZE"]
    remote = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(tmp_path / "empty"), "binhost": str(hub), "keys": keys})
    assert remote["cpvs"] == ["app-misc/extra-1", "app-misc/tmux-3.5a"] and all(remote["remote"].values())
    assert remote["aux"]["app-misc/extra-1"] == {"SLOT": "0", "BUILD_ID": "1", "SIZE": "5"}
    python_path.unlink()
    (hub / "app-misc" / "extra").mkdir()
    write_gpkg(hub / "app-misc" / "extra", BinpkgMetadata(cpv="app-misc/extra-1", slot="0", repo="gentoo", arch="amd64", use=(),
                                                          build_id=1), {})
    local = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(hub), "keys": keys})  # FEATURES=pkgdir-index-trusted
    assert local["cpvs"] == ["app-misc/extra-1", "app-misc/tmux-3.5a"] and local["invalids"] == []


# ----------------------------------------------------------------------------------------- emerge


@pytest.mark.skipif(os.geteuid() != 0, reason="merging into a private root is only driven as root here")
def test_emerge_merges_our_binary_package(tmp_path: Path, shared: Path) -> None:
    root = tmp_path / "root"
    gentoo = shared / "gentoo"
    for d in ("etc/portage", "var/db/pkg", "var/lib/portage", "var/cache/edb", "var/tmp", "share/portage", "usr/share/portage"):
        (root / d).mkdir(parents=True)
    for d in ("share/portage/config", "usr/share/portage/config"):
        (root / d).symlink_to(Path(sys.prefix) / "share" / "portage" / "config")
    (root / "etc/portage/make.conf").write_text(
        'FEATURES="-sandbox -usersandbox -ipc-sandbox -network-sandbox -pid-sandbox -mount-sandbox -news -userpriv -usersync '
        f'-userfetch -merge-wait -preserve-libs"\nPKGDIR="{root}/pkgdir"\nPORTAGE_TMPDIR="{root}/var/tmp"\nACCEPT_KEYWORDS="amd64"\n')
    (root / "etc/portage/repos.conf").write_text(f"[DEFAULT]\nmain-repo = gentoo\n[gentoo]\nlocation = {gentoo}/repo\n")
    (root / "etc/portage/make.profile").symlink_to(gentoo / "repo/profiles/default/linux/amd64/23.0/systemd")
    jq = BinpkgMetadata(cpv="app-misc/jq-1.8.1", slot="0", repo="gentoo", arch="amd64", use=("amd64", "oniguruma", "elibc_glibc", "kernel_linux"),
                        iuse=("+oniguruma", "static-libs", "test"), keywords="amd64", chost="x86_64-pc-linux-gnu", build_time=1_700_000_000,
                        build_id=1, extra=(("LICENSE", "MIT CC-BY-3.0"),))
    publish(root / "pkgdir", jq, {"usr/bin/jq": b"#!/bin/sh\necho jq\n"})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PORTAGE_")}, "PORTAGE_OVERRIDE_EPREFIX": str(root)}
    argv = [sys.executable, "-c", "import sys; from _emerge.main import emerge_main; sys.exit(emerge_main())",
            "--usepkgonly", "--nodeps", "--oneshot", "--binpkg-respect-use=n", "=app-misc/jq-1.8.1"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ">>> Completed (1 of 1) app-misc/jq-1.8.1::gentoo" in proc.stdout
    assert (root / "usr/bin/jq").read_bytes() == b"#!/bin/sh\necho jq\n"
    vdb = root / "var/db/pkg/app-misc/jq-1.8.1"
    assert (vdb / "SLOT").read_text() == "0\n" and (vdb / "repository").read_text() == "gentoo\n"
    assert (vdb / "BINPKGMD5").read_text().strip() == hashlib.md5((root / "pkgdir/app-misc/jq/jq-1.8.1-1.gpkg.tar").read_bytes()).hexdigest()
