"""GPKG (GLEP 78) binary packages: write them, and read + verify their metadata.

Used by drones that fake a build (``drone.builders.SimulateBuilder``: :func:`write_gpkg`) and by
``binhost.publisher``, which runs :func:`read_gpkg_metadata` on every artifact before publishing.

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
import shutil
import subprocess
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, cast

GPKG_VERSION = "gpkg-1"
MANIFEST_HASHES = ("BLAKE2B", "SHA512")  # portage's MANIFEST2_HASH_DEFAULTS
EXTENSIONS = {"gzip": ".gz", "bzip2": ".bz2", "lz4": ".lz4", "lzip": ".lz", "lzop": ".lzo", "xz": ".xz", "zstd": ".zst"}
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=6, mtime=0),
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64),
}
_EXTERNAL = {"zstd": ("zstd", "-dcq", "--long=31"), "lz4": ("lz4", "-dc"), "lzip": ("lzip", "-dc"), "lzop": ("lzop", "-dc")}
_CHUNK = 1 << 20
_MAX_METADATA = 64 << 20


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


class _Hasher:
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


def write_gpkg(
    dest_dir: Path, meta: BinpkgMetadata, files: Mapping[str, bytes], *, compression: str = "gzip",
    modes: Mapping[str, int] | None = None,
) -> Path:
    """Write ``<dest_dir>/<basename>.gpkg.tar`` atomically (temp file beside it + ``os.replace``).

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
    manifest = "".join(f"DATA {n} {len(d)} " + " ".join(f"{k} {v}" for k, v in _Hasher(d).hexdigests().items()) + "\n" for n, d in members)
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


# ----------------------------------------------------------------------------------------- reading


def read_gpkg_metadata(path: Path) -> dict[str, str]:
    """Verify a GPKG and return its metadata files (key -> stripped text).

    Checks what portage checks before trusting a package, and a little more: uncompressed ustar/GNU
    container of regular files ``<prefix>/<name>`` (one prefix, no duplicates) holding ``gpkg-1``,
    ``Manifest``, ``metadata.tar.<ext>``, ``image.tar.<ext>``; every other member listed in the
    Manifest (and nothing else) with matching size, BLAKE2B and SHA512; metadata members regular
    ``metadata/<KEY>`` files with CATEGORY, PF, SLOT set; image members under ``image/`` with no
    absolute path, ``..``, device file, hardlink out of the image or path through a symlink.
    A clearsigned Manifest is read but its signature is *not* checked. Binary metadata
    (``environment.bz2``) is left out of the result. Raises :class:`InvalidBinpkg`.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
        if len(head) < 512 or head[257:265] not in (b"ustar\x0000", b"ustar  \x00"):
            raise InvalidBinpkg(path, "not an uncompressed ustar/GNU tar archive")
        with tarfile.open(path, mode="r:") as container:
            members = _container_members(path, container)
            _verify_manifest(path, container, members)
            result = _read_metadata(path, container, members)
            _check_image(path, container, members)
    except InvalidBinpkg:
        raise
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error, UnicodeError, ValueError) as exc:
        raise InvalidBinpkg(path, f"unreadable: {exc}") from None
    return result


def _container_members(path: Path, container: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Member basename -> TarInfo, after the structural checks."""
    members = container.getmembers()
    for m in members:
        parts = m.name.split("/")
        if not m.isreg() or len(parts) != 2 or "" in parts or ".." in parts or "." in parts:
            raise InvalidBinpkg(path, f"bad container member {m.name!r} (need regular file <basename>/<name>)")
    by_name = {m.name.split("/")[1]: m for m in members}
    if len(by_name) != len(members) or len({m.name.split("/")[0] for m in members}) != 1:
        raise InvalidBinpkg(path, "duplicate members, or members not in one directory")
    for required in (GPKG_VERSION, "Manifest"):
        if required not in by_name:
            raise InvalidBinpkg(path, f"missing {required}")
    for stem in ("metadata", "image"):
        _compression(path, by_name, stem)
    return by_name


def _compression(path: Path, by_name: Mapping[str, tarfile.TarInfo], stem: str) -> tuple[tarfile.TarInfo, str]:
    found = [name for name in by_name if name.startswith(f"{stem}.tar") and not name.endswith(".sig")]
    if len(found) != 1:
        raise InvalidBinpkg(path, f"need exactly one {stem}.tar.<compression>, found {found}")
    ext = found[0][len(stem) + 4 :]
    for compression, known in EXTENSIONS.items():
        if ext == known:
            return by_name[found[0]], compression
    why = "uncompressed (portage would run BINPKG_COMPRESS's tool on it)" if not ext else f"unknown compression {ext!r}"
    raise InvalidBinpkg(path, f"{found[0]}: {why}")


def _manifest_records(path: Path, text: str) -> dict[str, tuple[int, dict[str, str]]]:
    if "-----BEGIN PGP SIGNED MESSAGE-----" in text:
        body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
        text = body.split("-----BEGIN PGP SIGNATURE-----", 1)[0].replace("\n- ", "\n")
    records: dict[str, tuple[int, dict[str, str]]] = {}
    for line in filter(None, (raw.split() for raw in text.splitlines())):
        if line[0] != "DATA" or len(line) < 3 or len(line) % 2 == 0 or not line[2].isdigit():
            raise InvalidBinpkg(path, f"bad Manifest line {' '.join(line)!r}")
        hashes = dict(zip(line[3::2], (t.lower() for t in line[4::2]), strict=True))
        missing = [h for h in MANIFEST_HASHES if h not in hashes]
        if line[1] in records or missing:
            raise InvalidBinpkg(path, f"Manifest entry {line[1]}: duplicate, or missing {missing}")
        records[line[1]] = (int(line[2]), hashes)
    return records


def _verify_manifest(path: Path, container: tarfile.TarFile, by_name: Mapping[str, tarfile.TarInfo]) -> None:
    manifest = _member_stream(path, container, by_name["Manifest"]).read(1 << 20)
    records = _manifest_records(path, manifest.decode("utf-8", errors="replace"))
    if set(records) != set(by_name) - {"Manifest"}:
        raise InvalidBinpkg(path, f"Manifest lists {sorted(records)}, archive holds {sorted(by_name)}")
    for name, (size, expected) in records.items():
        hasher = _hash_stream(_member_stream(path, container, by_name[name]))
        if not size == by_name[name].size == hasher.size:
            raise InvalidBinpkg(path, f"{name}: {hasher.size} bytes, tar header says {by_name[name].size}, Manifest {size}")
        if any(hasher.hexdigests()[h] != expected[h] for h in MANIFEST_HASHES):
            raise InvalidBinpkg(path, f"{name}: checksum mismatch with the Manifest")


def _hash_stream(stream: IO[bytes]) -> _Hasher:
    hasher = _Hasher()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        hasher.update(chunk)
    return hasher


def _member_stream(path: Path, tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(info)
    if stream is None:
        raise InvalidBinpkg(path, f"{info.name} is not a regular file")
    return stream


def _read_metadata(path: Path, container: tarfile.TarFile, by_name: Mapping[str, tarfile.TarInfo]) -> dict[str, str]:
    with _decompressed(path, container, *_compression(path, by_name, "metadata")) as stream:
        data = stream.read(_MAX_METADATA + 1)
    if len(data) > _MAX_METADATA:
        raise InvalidBinpkg(path, "metadata larger than 64 MiB")
    result: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as metadata:
        for member in metadata.getmembers():
            key = member.name.removeprefix("metadata/")
            if not member.isreg() or key == member.name or not key or "/" in key or key in (".", ".."):
                raise InvalidBinpkg(path, f"bad metadata member {member.name!r}")
            with suppress(UnicodeDecodeError):  # binary (environment.bz2) is skipped
                result[key] = _member_stream(path, metadata, member).read().decode("utf-8").strip()
    missing = [k for k in ("CATEGORY", "PF", "SLOT") if not result.get(k)]
    if missing:
        raise InvalidBinpkg(path, f"metadata lacks {missing}")
    return result


def _check_image(path: Path, container: tarfile.TarFile, by_name: Mapping[str, tarfile.TarInfo]) -> None:
    seen: set[str] = set()
    symlinks: set[str] = set()
    with _decompressed(path, container, *_compression(path, by_name, "image")) as stream, tarfile.open(fileobj=stream, mode="r|") as image:
        for member in image:
            problem = _image_member_problem(member, seen, symlinks)
            if problem:
                raise InvalidBinpkg(path, f"image member {member.name!r}: {problem}")
            seen.add(member.name)
            if member.issym():
                symlinks.add(member.name)


def _image_member_problem(member: tarfile.TarInfo, seen: set[str], symlinks: set[str]) -> str:
    name = member.name
    problems = (
        (name.startswith("/") or ".." in name.split("/"), "absolute path or path traversal"),
        (name != "image" and not name.startswith("image/"), "outside image/"),
        (name in seen, "duplicate"),
        (member.isdev(), "device file (portage refuses these)"),
        (member.islnk() and member.linkname not in seen, f"hardlink to {member.linkname!r}, not an earlier image member"),
        (any(str(parent) in symlinks for parent in PurePosixPath(name).parents), "path through a symlink"),
    )
    return next((why for bad, why in problems if bad), "")


@contextmanager
def _decompressed(path: Path, container: tarfile.TarFile, info: tarfile.TarInfo, compression: str) -> Iterator[IO[bytes]]:
    raw = _member_stream(path, container, info)
    if compression in _EXTERNAL:
        with _external_decompressor(raw, _EXTERNAL[compression]) as stream:
            yield stream
        return
    openers: dict[str, Callable[[IO[bytes]], object]] = {
        "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"), "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile,
    }
    with cast(IO[bytes], openers[compression](raw)) as stream:
        yield stream


@contextmanager
def _external_decompressor(raw: IO[bytes], argv: tuple[str, ...]) -> Iterator[IO[bytes]]:
    if shutil.which(argv[0]) is None:
        raise OSError(f"decompressing needs {argv[0]}, which is not installed")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdin, stdout = cast(IO[bytes], proc.stdin), cast(IO[bytes], proc.stdout)
    feeder = threading.Thread(target=_feed, args=(raw, stdin), daemon=True)
    feeder.start()
    try:
        yield stdout
        while stdout.read(_CHUNK):
            pass
    except BaseException:
        proc.kill()
        raise
    finally:
        stdout.close()
        returncode = proc.wait()
        feeder.join()
    if returncode != 0:
        raise OSError(f"{' '.join(argv)} exited with {returncode}")


def _feed(raw: IO[bytes], sink: IO[bytes]) -> None:
    with suppress(OSError), sink:
        for chunk in iter(lambda: raw.read(_CHUNK), b""):
            sink.write(chunk)
