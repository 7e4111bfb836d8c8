"""Reading and verifying GPKG binary packages (the format is described in :mod:`.gpkg`).

:func:`read_gpkg_metadata` checks the container layout, the Manifest (BLAKE2B and SHA512 of
every member, as portage verifies them), the metadata and the image member names, and returns
the metadata. ``binhost.publisher`` runs it on every artifact before publishing.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import subprocess
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import IO, cast

from swarm_celery.binhost import ustar
from swarm_celery.binhost.gpkg import EXTENSIONS, GPKG_VERSION, MANIFEST_HASHES, InvalidBinpkg, ManifestHasher

Member = tarfile.TarInfo | ustar.Member  # a member as tarfile or, for a plain archive, the fast reader gives it
_EXTERNAL = {"zstd": ("zstd", "-dcq", "--long=31"), "lz4": ("lz4", "-dc"), "lzip": ("lzip", "-dc"), "lzop": ("lzop", "-dc")}
_CHUNK = 1 << 20
_MAX_METADATA = 64 << 20
_FAST_IMAGE = 1 << 20  # compressed images up to this size are read by the plain-header reader first


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


def _hash_stream(stream: IO[bytes]) -> ManifestHasher:
    hasher = ManifestHasher()
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
    files: list[tuple[Member, bytes]]
    try:
        files = [(m, data[m.offset:m.offset + m.size]) for m in ustar.members(io.BytesIO(data).read)]
    except ustar.Unsupported:  # not a plain archive: tarfile reads it
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as metadata:
            files = [(m, _member_stream(path, metadata, m).read() if m.isreg() else b"") for m in metadata.getmembers()]
    result: dict[str, str] = {}
    for member, content in files:
        key = member.name.removeprefix("metadata/")
        if not member.isreg() or key == member.name or not key or "/" in key or key in (".", ".."):
            raise InvalidBinpkg(path, f"bad metadata member {member.name!r}")
        with suppress(UnicodeDecodeError):  # binary (environment.bz2) is skipped
            result[key] = content.decode("utf-8").strip()
    missing = [k for k in ("CATEGORY", "PF", "SLOT") if not result.get(k)]
    if missing:
        raise InvalidBinpkg(path, f"metadata lacks {missing}")
    return result


def _check_image(path: Path, container: tarfile.TarFile, by_name: Mapping[str, tarfile.TarInfo]) -> None:
    """Every image member's name and type; a small image (where headers, not decompression, cost the time) is tried
    with the plain-header reader first, and read again by tarfile if it is not plain; a large one by tarfile at once."""
    member, compression = _compression(path, by_name, "image")
    if member.size <= _FAST_IMAGE:
        try:
            with _decompressed(path, container, member, compression) as stream:
                _check_image_members(path, ustar.members(stream.read))
            return
        except ustar.Unsupported:
            pass
    with _decompressed(path, container, member, compression) as stream, tarfile.open(fileobj=stream, mode="r|") as image:
        _check_image_members(path, image)


def _check_image_members(path: Path, image: Iterable[Member]) -> None:
    seen: set[str] = set()
    symlinks: set[str] = set()
    for member in image:
        problem = _image_member_problem(member, seen, symlinks)
        if problem:
            raise InvalidBinpkg(path, f"image member {member.name!r}: {problem}")
        seen.add(member.name)
        if member.issym():
            symlinks.add(member.name)


def _image_member_problem(member: Member, seen: set[str], symlinks: set[str]) -> str:
    name = member.name
    problems = (
        (name.startswith("/") or ".." in name.split("/"), "absolute path or path traversal"),
        (name != "image" and not name.startswith("image/"), "outside image/"),
        (name in seen, "duplicate"),
        (member.isdev(), "device file (portage refuses these)"),
        (member.islnk() and member.linkname not in seen, f"hardlink to {member.linkname!r}, not an earlier image member"),
        (bool(symlinks) and any(str(parent) in symlinks for parent in PurePosixPath(name).parents), "path through a symlink"),
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
