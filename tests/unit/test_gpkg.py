"""GPKG writer/reader, pure: layout, Manifest, determinism, and rejection of broken or hostile files.

Portage's own reader is exercised in tests/integration/test_binhost_portage.py.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg import BinpkgMetadata, InvalidBinpkg, build_gpkg, write_gpkg
from swarm_celery.binhost.gpkg_read import read_gpkg_metadata

META = BinpkgMetadata(
    cpv="app-misc/tmux-3.5a", slot="0", repo="gentoo", arch="amd64", use=("amd64", "utempter"), iuse=("utempter", "vim-syntax"),
    keywords="amd64 ~arm64", chost="x86_64-pc-linux-gnu", build_time=1_700_000_000, rdepend="sys-libs/ncurses:0/6=",
)
FILES = {"usr/bin/tmux": b"\x7fELF fake", "usr/share/doc/tmux-3.5a/README": b"hello\n"}


def members_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers()}


def inner(data: bytes, ext: str = "gz", stem: str = "metadata") -> tarfile.TarFile:
    blob = next(v for k, v in members_of(data).items() if k.endswith(f"/{stem}.tar.{ext}"))
    raw = gzip.decompress(blob) if ext == "gz" else __import__("lzma").decompress(blob)
    return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")


def container(members: list[tuple[str, bytes]], manifest: bytes | None = None) -> bytes:
    """An outer GPKG tar built independently of the module, with a correct Manifest unless given."""
    if manifest is None:
        manifest = b"".join(
            f"DATA {n.split('/')[-1]} {len(d)} BLAKE2B {hashlib.blake2b(d).hexdigest()} SHA512 {hashlib.sha512(d).hexdigest()}\n".encode()
            for n, d in members
        )
        members = [*members, (f"{members[0][0].split('/')[0]}/Manifest", manifest)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_of(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return buffer.getvalue()


GOOD_METADATA = tar_of([("metadata/CATEGORY", b"a-b\n"), ("metadata/PF", b"c-1\n"), ("metadata/SLOT", b"0\n")])
GOOD_IMAGE = tar_of([("image/usr/x", b"x")])


def hand_made(image: bytes = GOOD_IMAGE, metadata: bytes = GOOD_METADATA, ext: str = "gz") -> bytes:
    squeeze: Callable[[bytes], bytes] = gzip.compress if ext == "gz" else bz2.compress
    return container([("c-1/gpkg-1", b""), (f"c-1/metadata.tar.{ext}", squeeze(metadata)), (f"c-1/image.tar.{ext}", squeeze(image))])


def expect_invalid(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "x.gpkg.tar"
    path.write_bytes(data)
    with pytest.raises(InvalidBinpkg, match=match or None) as caught:
        read_gpkg_metadata(path)
    assert caught.value.path == path and isinstance(caught.value, ValueError)


# ----------------------------------------------------------------------------------------- writing


def test_round_trip_gives_the_metadata(tmp_path: Path) -> None:
    path = write_gpkg(tmp_path, META, FILES)
    assert path == tmp_path / "tmux-3.5a.gpkg.tar"
    meta = read_gpkg_metadata(path)
    assert meta["CATEGORY"] == "app-misc" and meta["PF"] == "tmux-3.5a" and meta["SLOT"] == "0"
    assert meta["USE"] == "amd64 utempter" and meta["IUSE"] == "utempter vim-syntax" and meta["KEYWORDS"] == "amd64 ~arm64"
    assert meta["repository"] == "gentoo" and meta["CHOST"] == "x86_64-pc-linux-gnu" and meta["EAPI"] == "8"
    assert meta["BUILD_TIME"] == "1700000000" and meta["RDEPEND"] == "sys-libs/ncurses:0/6=" and meta["SIZE"] == str(sum(map(len, FILES.values())))
    assert "DEPEND" not in meta and "BUILD_ID" not in meta and "environment.bz2" not in meta


def test_container_layout_and_manifest(tmp_path: Path) -> None:
    data = write_gpkg(tmp_path, META, FILES).read_bytes()
    assert data[257:265] == b"ustar\x0000" and b"tmux-3.5a/gpkg-1\x00" in data[:100]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == ["tmux-3.5a/gpkg-1", "tmux-3.5a/metadata.tar.gz", "tmux-3.5a/image.tar.gz", "tmux-3.5a/Manifest"]
    assert {(i.mtime, i.uid, i.gid, i.mode, i.uname) for i in infos} == {(1_700_000_000, 0, 0, 0o644, "")}
    members = members_of(data)
    lines = members["tmux-3.5a/Manifest"].decode().splitlines()
    assert len(lines) == 3
    for line in lines:
        kind, name, size, h1, d1, h2, d2 = line.split()
        blob = members[f"tmux-3.5a/{name}"]
        assert (kind, int(size), h1, h2) == ("DATA", len(blob), "BLAKE2B", "SHA512")
        assert d1 == hashlib.blake2b(blob).hexdigest() and d2 == hashlib.sha512(blob).hexdigest()
    assert members["tmux-3.5a/image.tar.gz"][4:8] == b"\0\0\0\0"  # gzip header mtime 0


def test_metadata_tar_holds_build_info_files(tmp_path: Path) -> None:
    data = build_gpkg(META, FILES)
    with inner(data) as tar:
        names = tar.getnames()
        env = bz2.decompress((tar.extractfile("metadata/environment.bz2") or io.BytesIO()).read()).decode()
        slot = (tar.extractfile("metadata/SLOT") or io.BytesIO()).read()
    assert names == sorted(names) and all(n.startswith("metadata/") for n in names)
    assert {"metadata/CATEGORY", "metadata/PF", "metadata/SLOT", "metadata/USE", "metadata/repository", "metadata/EAPI",
            "metadata/environment.bz2", "metadata/tmux-3.5a.ebuild"} <= set(names)
    assert slot == b"0\n" and 'declare -- SLOT="0"' in env and 'declare -- USE="amd64 utempter"' in env


def test_image_tar_paths_modes_and_owner() -> None:
    data = build_gpkg(META, FILES, modes={"usr/bin/tmux": 0o755})
    with inner(data, stem="image") as tar:
        infos = {i.name: i for i in tar.getmembers()}
    assert list(infos) == ["image", "image/usr", "image/usr/bin", "image/usr/bin/tmux", "image/usr/share",
                           "image/usr/share/doc", "image/usr/share/doc/tmux-3.5a", "image/usr/share/doc/tmux-3.5a/README"]
    assert infos["image/usr"].isdir() and infos["image/usr"].mode == 0o755
    assert infos["image/usr/bin/tmux"].mode == 0o755 and infos["image/usr/share/doc/tmux-3.5a/README"].mode == 0o644
    assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos.values()} == {(0, 0, "root", "root", 1_700_000_000)}


def test_output_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first = write_gpkg(tmp_path / "a", META, FILES).read_bytes()
    second = write_gpkg(tmp_path, META, dict(reversed(FILES.items()))).read_bytes()
    assert first == second == build_gpkg(META, FILES)
    assert build_gpkg(META, FILES, compression="xz") == build_gpkg(META, FILES, compression="xz")
    assert build_gpkg(META, FILES) != build_gpkg(META, {**FILES, "usr/bin/tmux": b"other"})


def test_xz_variant_reads_back(tmp_path: Path) -> None:
    path = write_gpkg(tmp_path, META, FILES, compression="xz")
    assert members_of(path.read_bytes()).keys() >= {"tmux-3.5a/metadata.tar.xz", "tmux-3.5a/image.tar.xz"}
    assert read_gpkg_metadata(path)["PF"] == "tmux-3.5a"


def test_build_id_names_file_basename_and_metadata(tmp_path: Path) -> None:
    meta = BinpkgMetadata(cpv="dev-lang/python-3.12.8_p1", slot="3.12/3.12", repo="gentoo", arch="amd64", use=(), build_id=3)
    path = write_gpkg(tmp_path, meta, {})
    assert path.name == "python-3.12.8_p1-3.gpkg.tar"
    assert all(n.startswith("python-3.12.8_p1-3/") for n in members_of(path.read_bytes()))
    got = read_gpkg_metadata(path)
    assert got["BUILD_ID"] == "3" and got["SLOT"] == "3.12/3.12"


def test_extra_metadata_overrides_and_adds(tmp_path: Path) -> None:
    meta = BinpkgMetadata(cpv="a-b/c-1", slot="0", repo="r", arch="amd64", use=(), extra=(("LICENSE", "MIT"), ("EAPI", "7")))
    got = read_gpkg_metadata(write_gpkg(tmp_path, meta, {}))
    assert got["LICENSE"] == "MIT" and got["EAPI"] == "7"


def test_write_is_atomic_and_world_readable(tmp_path: Path) -> None:
    path = write_gpkg(tmp_path, META, FILES)
    write_gpkg(tmp_path, META, FILES)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("files", [{"../etc/passwd": b"x"}, {"usr/../x": b"x"}, {"": b"x"}, {"usr": b"x", "usr/bin/y": b"y"}])
def test_writer_refuses_bad_image_paths(tmp_path: Path, files: dict[str, bytes]) -> None:
    with pytest.raises(ValueError):
        write_gpkg(tmp_path, META, files)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_unknown_compression_and_bad_cpv(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_gpkg(tmp_path, META, FILES, compression="zstd")
    with pytest.raises(ValueError):
        write_gpkg(tmp_path, BinpkgMetadata(cpv="tmux-3.5a", slot="0", repo="r", arch="amd64", use=()), FILES)


# ----------------------------------------------------------------------------------------- reading / rejecting


def test_hand_made_package_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c-1.gpkg.tar"
    path.write_bytes(hand_made())
    assert read_gpkg_metadata(path) == {"CATEGORY": "a-b", "PF": "c-1", "SLOT": "0"}
    path.write_bytes(hand_made(ext="bz2"))
    assert read_gpkg_metadata(path)["PF"] == "c-1"


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd program not installed")
def test_zstd_package_is_read_through_the_zstd_program(tmp_path: Path) -> None:
    def zstd(data: bytes) -> bytes:
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout

    path = tmp_path / "c-1.gpkg.tar"
    path.write_bytes(container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.zst", zstd(GOOD_METADATA)), ("c-1/image.tar.zst", zstd(GOOD_IMAGE))]))
    assert read_gpkg_metadata(path)["CATEGORY"] == "a-b"
    path.write_bytes(container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.zst", b"not zstd"), ("c-1/image.tar.zst", zstd(GOOD_IMAGE))]))
    with pytest.raises(InvalidBinpkg, match="zstd"):
        read_gpkg_metadata(path)


def test_clearsigned_manifest_is_read(tmp_path: Path) -> None:
    members = [("c-1/gpkg-1", b""), ("c-1/metadata.tar.gz", gzip.compress(GOOD_METADATA)), ("c-1/image.tar.gz", gzip.compress(GOOD_IMAGE))]
    plain = members_of(container(members))["c-1/Manifest"]
    signed = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + plain + b"-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n"
    path = tmp_path / "c-1.gpkg.tar"
    path.write_bytes(container([*members, ("c-1/Manifest", signed)], manifest=signed))
    assert read_gpkg_metadata(path)["SLOT"] == "0"


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


def data_offset(data: bytes, suffix: str) -> int:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(suffix))
        return member.offset_data + member.size // 2


def test_flipped_byte_in_image_is_rejected(tmp_path: Path) -> None:
    data = build_gpkg(META, FILES)
    expect_invalid(tmp_path, flip(data, data_offset(data, "image.tar.gz")), "image.tar.gz: checksum mismatch")


def test_flipped_byte_in_metadata_or_manifest_is_rejected(tmp_path: Path) -> None:
    data = build_gpkg(META, FILES)
    expect_invalid(tmp_path, flip(data, data_offset(data, "metadata.tar.gz")), "metadata.tar.gz: checksum mismatch")
    expect_invalid(tmp_path, flip(data, data_offset(data, "Manifest")), "Manifest")


def payload_end(data: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return max(m.offset_data + m.size for m in tar.getmembers())


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_truncated_file_is_rejected(tmp_path: Path, fraction: float) -> None:
    data = build_gpkg(META, FILES)
    expect_invalid(tmp_path, data[: int(payload_end(data) * fraction)], "")


def test_truncation_only_in_end_of_archive_padding_loses_nothing(tmp_path: Path) -> None:
    data = build_gpkg(META, FILES)
    path = tmp_path / "x.gpkg.tar"
    path.write_bytes(data[: -(-payload_end(data) // 512) * 512])
    assert read_gpkg_metadata(path)["PF"] == "tmux-3.5a"


@pytest.mark.parametrize("blob", [b"", b"garbage" * 300, bytes(range(256)) * 8, b"\x00" * 4096])
def test_garbage_is_rejected(tmp_path: Path, blob: bytes) -> None:
    expect_invalid(tmp_path, blob, "")


def test_compressed_container_and_xpak_are_rejected(tmp_path: Path) -> None:
    expect_invalid(tmp_path, gzip.compress(build_gpkg(META, FILES)), "not an uncompressed")
    expect_invalid(tmp_path, bz2.compress(b"x" * 1000) + b"XPAKSTOP" + b"\0" * 4 + b"STOP", "not an uncompressed")


def test_missing_members_are_rejected(tmp_path: Path) -> None:
    md, im = gzip.compress(GOOD_METADATA), gzip.compress(GOOD_IMAGE)
    expect_invalid(tmp_path, container([("c-1/metadata.tar.gz", md), ("c-1/image.tar.gz", im)]), "missing gpkg-1")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("c-1/image.tar.gz", im)]), "metadata.tar")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.gz", md)]), "image.tar")
    no_manifest = container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.gz", md), ("c-1/image.tar.gz", im)], manifest=b"")
    expect_invalid(tmp_path, no_manifest, "missing Manifest")


def test_manifest_mismatches_are_rejected(tmp_path: Path) -> None:
    md, im = gzip.compress(GOOD_METADATA), gzip.compress(GOOD_IMAGE)
    members = [("c-1/gpkg-1", b""), ("c-1/metadata.tar.gz", md), ("c-1/image.tar.gz", im)]
    manifest = members_of(container(members))["c-1/Manifest"]
    only_blake = b"".join(line.split(b" SHA512 ")[0] + b"\n" for line in manifest.splitlines())
    expect_invalid(tmp_path, container([*members, ("c-1/Manifest", only_blake)], manifest=only_blake), "missing \\['SHA512'\\]")
    short = b"\n".join(manifest.splitlines()[:2]) + b"\n"
    expect_invalid(tmp_path, container([*members, ("c-1/Manifest", short)], manifest=short), "Manifest lists")
    listed_extra = tmp_path / "ok.gpkg.tar"
    listed_extra.write_bytes(container([*members, ("c-1/notes.txt", b"hi")]))  # portage accepts listed extra members too
    assert read_gpkg_metadata(listed_extra)["PF"] == "c-1"
    wrong_size = manifest.replace(f" {len(im)} ".encode(), f" {len(im) + 1} ".encode())
    expect_invalid(tmp_path, container([*members, ("c-1/Manifest", wrong_size)], manifest=wrong_size), "image.tar.gz: .* bytes")
    bad_line = manifest + b"EBUILD x 1 SHA512 00\n"
    expect_invalid(tmp_path, container([*members, ("c-1/Manifest", bad_line)], manifest=bad_line), "bad Manifest line")


def test_container_path_tricks_are_rejected(tmp_path: Path) -> None:
    md, im = gzip.compress(GOOD_METADATA), gzip.compress(GOOD_IMAGE)
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("../metadata.tar.gz", md), ("c-1/image.tar.gz", im)]), "bad container member")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("c-1/x/metadata.tar.gz", md), ("c-1/image.tar.gz", im)]), "bad container member")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("d-1/metadata.tar.gz", md), ("c-1/image.tar.gz", im)]), "one directory")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("c-1/metadata.tar", GOOD_METADATA), ("c-1/image.tar.gz", im)]), "uncompressed")
    expect_invalid(tmp_path, container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.foo", md), ("c-1/image.tar.gz", im)]), "unknown compression")


def test_metadata_tricks_are_rejected(tmp_path: Path) -> None:
    expect_invalid(tmp_path, hand_made(metadata=tar_of([("metadata/CATEGORY", b"a-b"), ("metadata/PF", b"c-1")])), "lacks \\['SLOT'\\]")
    expect_invalid(tmp_path, hand_made(metadata=tar_of([("metadata/../../etc/x", b"1")])), "bad metadata member")
    expect_invalid(tmp_path, hand_made(metadata=tar_of([("CATEGORY", b"a-b")])), "bad metadata member")
    link = tarfile.TarInfo("metadata/SLOT")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    expect_invalid(tmp_path, hand_made(metadata=tar_of([("metadata/CATEGORY", b"a"), ("metadata/PF", b"c-1"), link])), "bad metadata member")
    expect_invalid(tmp_path, hand_made(metadata=b"not a tar" * 100), "unreadable")


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([("image/../../etc/passwd", b"x")], "path traversal"),
        ([("/etc/passwd", b"x")], "absolute path"),
        ([("etc/passwd", b"x")], "outside image"),
        ([("image/x", b"1"), ("image/x", b"2")], "duplicate"),
        ([special("image/dev/null", tarfile.CHRTYPE)], "device file"),
        ([special("image/hard", tarfile.LNKTYPE, "/etc/shadow")], "hardlink"),
        ([special("image/etc", tarfile.SYMTYPE, "/etc"), ("image/etc/cron.d/evil", b"x")], "through a symlink"),
        # names too long for a plain header: read by tarfile, checked the same
        ([("image/" + "deep/" * 30 + "../" * 32 + "etc/passwd", b"x")], "path traversal"),
        ([special("image/" + "e" * 120, tarfile.SYMTYPE, "/etc"), ("image/" + "e" * 120 + "/cron.d/evil", b"x")], "through a symlink"),
        ([("image/" + "x" * 120, b"1"), ("image/" + "x" * 120, b"2")], "duplicate"),
    ],
)
def test_image_tricks_are_rejected(tmp_path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], match: str) -> None:
    expect_invalid(tmp_path, hand_made(image=tar_of(entries)), match)


def test_image_symlinks_and_internal_hardlinks_are_fine(tmp_path: Path) -> None:
    image = tar_of([("image/usr/lib64/libx.so.1", b"x"), special("image/usr/lib64/libx.so", tarfile.SYMTYPE, "libx.so.1"),
                    special("image/lib", tarfile.SYMTYPE, "/usr/lib64"), special("image/usr/bin/a", tarfile.LNKTYPE, "image/usr/lib64/libx.so.1")])
    path = tmp_path / "c-1.gpkg.tar"
    path.write_bytes(hand_made(image=image))
    assert read_gpkg_metadata(path)["PF"] == "c-1"


def test_corrupt_compressed_image_with_matching_manifest_is_rejected(tmp_path: Path) -> None:
    good = gzip.compress(GOOD_IMAGE)
    broken = good[:10] + bytes(b ^ 0x55 for b in good[10:-8]) + good[-8:]
    data = container([("c-1/gpkg-1", b""), ("c-1/metadata.tar.gz", gzip.compress(GOOD_METADATA)), ("c-1/image.tar.gz", broken)])
    expect_invalid(tmp_path, data, "unreadable")


def test_missing_file_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidBinpkg):
        read_gpkg_metadata(tmp_path / "nope.gpkg.tar")
