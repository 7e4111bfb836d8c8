"""GPKG (GLEP 78) binary packages: write them, and read + verify their metadata.

Used by drones that fake a build (``drone.builders.SimulateBuilder``: :func:`write_gpkg`); the
reading side (``binhost.publisher`` checks every artifact) is :mod:`swarm_celery.binhost.gpkg_read`.

Layout, as portage 3.0.83 (``portage/gpkg.py``) writes and reads it: an *uncompressed* ustar
container whose members share one directory named after the package (``<PF>`` or ``<PF>-<BUILD_ID>``):
``gpkg-1`` (empty, first: portage sniffs ``/gpkg-1\\0``), ``metadata.tar.<ext>`` (``metadata/<KEY>``
regular files), ``image.tar.<ext>`` (``image/`` + ``image/<path>``) and ``Manifest``, one line per
other member: ``DATA <name> <size> BLAKE2B <hex> SHA512 <hex>``. portage verifies both hashes
(MANIFEST2_HASH_DEFAULTS; a line lacking either crashes its verifier). It decompresses with
external tools picked by extension (``gzip -d``, ``xz -d``, ``zstd -d`` ...) and would run the
BINPKG_COMPRESS tool on an uncompressed ``metadata.tar``, so inner tars are always compressed.
We write gzip (stdlib, fastest, deterministic with mtime=0, ``gzip`` is in every stage3) or xz,
and read gzip/bzip2/xz with the stdlib, zstd/lz4/lzip/lzop through their programs like portage.
Stub ``environment.bz2`` and ``<PF>.ebuild`` are written as in a real build-info: emerge refuses to
merge a binary package without ``environment.bz2`` ("failed to extract environment"); reading
and indexing need neither.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

GPKG_VERSION = "gpkg-1"
MANIFEST_HASHES = ("BLAKE2B", "SHA512")  # portage's MANIFEST2_HASH_DEFAULTS
EXTENSIONS = {"gzip": ".gz", "bzip2": ".bz2", "lz4": ".lz4", "lzip": ".lz", "lzop": ".lzo", "xz": ".xz", "zstd": ".zst"}
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=6, mtime=0),
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64),
}


class InvalidBinpkg(ValueError):
    """A file that is not a well-formed, Manifest-consistent GPKG."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class BinpkgMetadata:
    cpv: str  # "app-misc/tmux-3.5a"
    slot: str  # "0" or "3.12/3.12", the SLOT file as portage stores it
    repo: str
    arch: str  # not a build-info file: the binhost tree and the Packages header (ARCH) carry it
    use: tuple[str, ...]
    iuse: tuple[str, ...] = ()
    keywords: str = ""
    eapi: str = "8"
    depend: str = ""
    rdepend: str = ""
    bdepend: str = ""
    pdepend: str = ""
    chost: str = ""
    build_time: int = 0
    extra: tuple[tuple[str, str], ...] = ()  # further metadata files; they override generated ones
    build_id: int = 0  # >0: binpkg-multi-instance; file and basename "<PF>-<build_id>", BUILD_ID written

    @property
    def pf(self) -> str:
        return self.cpv.split("/", 1)[1]

    @property
    def basename(self) -> str:
        return f"{self.pf}-{self.build_id}" if self.build_id > 0 else self.pf

    def metadata_files(self, image_size: int) -> dict[str, bytes]:
        """The metadata/ files portage's build-info would hold (values end with a newline)."""
        text = {
            "CATEGORY": self.cpv.split("/", 1)[0], "PF": self.pf, "SLOT": self.slot, "repository": self.repo,
            "EAPI": self.eapi, "USE": " ".join(self.use), "IUSE": " ".join(self.iuse), "KEYWORDS": self.keywords,
            "CHOST": self.chost, "BUILD_TIME": str(self.build_time), "SIZE": str(image_size), "DEPEND": self.depend,
            "RDEPEND": self.rdepend, "BDEPEND": self.bdepend, "PDEPEND": self.pdepend,
            "BUILD_ID": str(self.build_id) if self.build_id > 0 else "",
        }
        text = {k: v for k, v in text.items() if v or k in ("USE", "IUSE", "KEYWORDS")}
        text.update(self.extra)
        out = {k: f"{v}\n".encode() for k, v in text.items()}
        out.setdefault("environment.bz2", bz2.compress(_stub_environment(text).encode(), 9))
        out.setdefault(f"{self.pf}.ebuild", f"# binary package written by build-swarm\nEAPI={self.eapi}\n".encode())
        return out


def _stub_environment(values: Mapping[str, str]) -> str:
    def quote(v: str) -> str:
        return '"' + "".join("\\" + c if c in '\\"$`' else c for c in v) + '"'

    keys = ("CATEGORY", "PF", "SLOT", "EAPI", "USE", "IUSE", "KEYWORDS", "CHOST")
    return "".join(f"declare -- {k}={quote(values.get(k, ''))}\n" for k in keys)


class ManifestHasher:
    """BLAKE2B (512-bit) and SHA512 of one stream, with its length."""

    def __init__(self, data: bytes = b"") -> None:
        self.blake2b, self.sha512, self.size = hashlib.blake2b(), hashlib.sha512(), 0
        self.update(data)

    def update(self, data: bytes) -> None:
        self.blake2b.update(data)
        self.sha512.update(data)
        self.size += len(data)

    def hexdigests(self) -> dict[str, str]:
        return {"BLAKE2B": self.blake2b.hexdigest(), "SHA512": self.sha512.hexdigest()}


# ----------------------------------------------------------------------------------------- writing


def member_like(template: tarfile.TarInfo, name: str, size: int) -> tarfile.TarInfo:
    """A regular container member ``name`` of ``size`` bytes, dated and owned like ``template`` (mode 0644)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uname, info.gname = size, template.mtime, 0o644, template.uname, template.gname
    return info


@contextmanager
def rewriting(path: Path, suffix: str) -> Iterator[BinaryIO]:
    """Write a new version of ``path``: into ``.<name>.<suffix>`` beside it, fsynced, then renamed over it; the temporary
    file is gone whatever happens."""
    tmp = path.with_name(f".{path.name}.{suffix}")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_gpkg(
    dest_dir: Path, meta: BinpkgMetadata, files: Mapping[str, bytes], *, compression: str = "gzip",
    modes: Mapping[str, int] | None = None, durable: bool = True,
) -> Path:
    """Write ``<dest_dir>/<basename>.gpkg.tar`` atomically (temp file beside it + ``os.replace``), on disk before it
    returns unless ``durable`` is False (a file whose checksum is checked where it is read, lost with the build if not).

    ``files`` is the image: path inside it ("usr/bin/x") -> content; ``modes`` optionally gives a
    file's permission bits (default 0644). Same input, same bytes: every tar member has mtime
    ``meta.build_time`` and owner 0:0 (image: root:root), gzip headers carry mtime 0.
    """
    data = build_gpkg(meta, files, compression=compression, modes=modes)
    dest = Path(dest_dir) / f"{meta.basename}.gpkg.tar"
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def build_gpkg(
    meta: BinpkgMetadata, files: Mapping[str, bytes], *, compression: str = "gzip", modes: Mapping[str, int] | None = None,
) -> bytes:
    """The bytes of the GPKG :func:`write_gpkg` writes."""
    if compression not in _COMPRESSORS or "/" not in meta.cpv:
        raise ValueError(f"need compression in {sorted(_COMPRESSORS)} and a category/PF cpv: {compression!r}, {meta.cpv!r}")
    compress, ext, mtime = _COMPRESSORS[compression], EXTENSIONS[compression], meta.build_time
    image = compress(_image_tar(files, modes or {}, mtime))
    metadata = compress(_metadata_tar(meta.metadata_files(sum(len(v) for v in files.values())), mtime))
    members = [(GPKG_VERSION, b""), (f"metadata.tar{ext}", metadata), (f"image.tar{ext}", image)]
    manifest = "".join(f"DATA {n} {len(d)} " + " ".join(f"{k} {v}" for k, v in ManifestHasher(d).hexdigests().items()) + "\n" for n, d in members)
    members.append(("Manifest", manifest.encode()))
    fmt = tarfile.GNU_FORMAT if len(meta.basename) >= 154 else tarfile.USTAR_FORMAT  # as portage
    return _tar_bytes([(_info(f"{meta.basename}/{n}", mtime, len(d)), d) for n, d in members], fmt)


def _info(name: str, mtime: int, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE, owner: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type, info.uname, info.gname = size, mtime, mode, kind, owner, owner
    return info


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _metadata_tar(files: Mapping[str, bytes], mtime: int) -> bytes:
    bad = [k for k in files if not k or "/" in k or k in (".", "..")]
    if bad:
        raise ValueError(f"bad metadata file names {bad}")
    return _tar_bytes([(_info(f"metadata/{k}", mtime, len(files[k])), files[k]) for k in sorted(files)], tarfile.USTAR_FORMAT)


def _image_tar(files: Mapping[str, bytes], modes: Mapping[str, int], mtime: int) -> bytes:
    paths = {_clean_image_path(p): p for p in files}
    dirs = {str(parent) for p in paths for parent in PurePosixPath(p).parents if str(parent) != "."}
    if dirs & paths.keys():
        raise ValueError(f"image paths used both as file and directory: {sorted(dirs & paths.keys())}")
    members = [(_info("image", mtime, 0, 0o755, tarfile.DIRTYPE, "root"), b"")]
    for path in sorted(dirs | paths.keys()):
        if path in dirs:
            members.append((_info(f"image/{path}", mtime, 0, 0o755, tarfile.DIRTYPE, "root"), b""))
        else:
            data = files[paths[path]]
            members.append((_info(f"image/{path}", mtime, len(data), modes.get(paths[path], 0o644), owner="root"), data))
    ustar = all(len(PurePosixPath(i.name).name) < 100 and len(str(PurePosixPath(i.name).parent)) < 155 for i, _ in members)
    return _tar_bytes(members, tarfile.USTAR_FORMAT if ustar else tarfile.GNU_FORMAT)  # portage's choice too


def _clean_image_path(path: str) -> str:
    parts = PurePosixPath(path.lstrip("/")).parts
    if not parts or any(p in ("..", ".") for p in parts):
        raise ValueError(f"bad image path {path!r}")
    return "/".join(parts)
