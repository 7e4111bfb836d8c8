"""Give a GPKG another ``BUILD_ID``: a rebuild is published beside the file it replaces, never over it.

``binhost.publisher`` calls :func:`next_build_id` for each artifact it places and, when the
drone's ``<PF>-<N>.gpkg.tar`` names a file the binhost holds already, :func:`renumber_gpkg`
before signing. The container is rewritten the way portage's ``gpkg.update_metadata`` does
it: every member moves to the new ``<PF>-<BUILD_ID>/`` directory, ``metadata/BUILD_ID`` says
the new number (portage's local scan believes the metadata over the file name), the metadata
member is written again gzip-compressed (portage picks a decompressor per member), and the
Manifest lists the new hashes. Signatures of the old members are dropped: they no longer match
(the publisher signs the result when a key is configured).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path
from typing import BinaryIO

from swarm_celery.binhost.gpkg import _COMPRESSORS, GPKG_VERSION, ManifestHasher, member_like, rewriting
from swarm_celery.binhost.gpkg_read import _compression, _container_members, _decompressed
from swarm_celery.errors import ArtifactError

_MAX_METADATA = 64 << 20


def next_build_id(directory: Path, pf: str, wanted: int) -> int:
    """``wanted`` when ``<directory>/<pf>-<wanted>.gpkg.tar`` does not exist, else one above every BUILD_ID there."""
    taken = {int(m.group(1)) for f in _names(directory) if (m := re.fullmatch(re.escape(pf) + r"-([0-9]+)\.gpkg\.tar", f))}
    if wanted not in taken:
        return wanted
    return max(taken) + 1


def _names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def same_build(published: Path, artifact: Path) -> bool:
    """Whether ``published`` holds the very build ``artifact`` is (the same image member, by its Manifest hash):
    signing and renumbering change the rest of the file, never the image."""
    try:
        return _image_hash(published) == _image_hash(artifact) != ""
    except (tarfile.TarError, OSError):
        return False


def _image_hash(path: Path) -> str:
    with tarfile.open(path, "r:") as container:
        manifest = next((m for m in container.getmembers() if m.name.endswith("/Manifest")), None)
        stream = container.extractfile(manifest) if manifest is not None else None
        text = stream.read(1 << 20).decode("utf-8", errors="replace") if stream is not None else ""
    lines = (line.split() for line in text.splitlines())
    return next((" ".join(f[3:]) for f in lines if len(f) > 3 and f[0] == "DATA" and f[1].startswith("image.tar")), "")


def renumber_gpkg(path: Path, pf: str, build_id: int) -> None:
    """Rewrite ``path`` in place (a temporary file beside it, then a rename) as build ``build_id`` of ``pf``."""
    try:
        with tarfile.open(path, "r:") as container, rewriting(path, "renumber") as out:
            members = _container_members(path, container)
            metadata_info, compression = _compression(path, members, "metadata")
            with _decompressed(path, container, metadata_info, compression) as stream:
                metadata = _with_build_id(stream.read(_MAX_METADATA), build_id)
            _write(container, members, out, f"{pf}-{build_id}", metadata_info.name.split("/")[1], metadata)
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise ArtifactError(f"cannot give {path.name} BUILD_ID {build_id}: {exc}") from None


def _write(container: tarfile.TarFile, members: dict[str, tarfile.TarInfo], out: BinaryIO, basename: str,
           old_metadata: str, metadata: bytes) -> None:
    """The container again under ``basename``, with the new metadata member and Manifest, without signatures."""
    template = members[GPKG_VERSION]
    fmt = tarfile.GNU_FORMAT if len(basename) >= 154 else tarfile.USTAR_FORMAT
    lines: list[str] = []
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for old_name, info in members.items():
            if old_name == "Manifest" or old_name.endswith(".sig"):
                continue
            name = "metadata.tar.gz" if old_name == old_metadata else old_name
            if old_name == old_metadata:
                data = _COMPRESSORS["gzip"](metadata)
                tar.addfile(member_like(template, f"{basename}/{name}", len(data)), io.BytesIO(data))
                hashes = ManifestHasher(data)
            else:
                hashes = _copy(container, info, tar, f"{basename}/{name}")
            lines.append(f"DATA {name} {hashes.size} " + " ".join(f"{k} {v}" for k, v in hashes.hexdigests().items()))
        manifest = ("\n".join(lines) + "\n").encode()
        tar.addfile(member_like(template, f"{basename}/Manifest", len(manifest)), io.BytesIO(manifest))


def _copy(container: tarfile.TarFile, info: tarfile.TarInfo, tar: tarfile.TarFile, name: str) -> ManifestHasher:
    """Copy one member under a new name; its hashes for the Manifest (a second read)."""
    source = container.extractfile(info)
    if source is None:
        raise ValueError(f"{info.name} is not a regular file")
    tar.addfile(member_like(info, name, info.size), source)
    source.seek(0)
    hasher = ManifestHasher()
    for chunk in iter(lambda: source.read(1 << 20), b""):
        hasher.update(chunk)
    return hasher


def _with_build_id(data: bytes, build_id: int) -> bytes:
    """The metadata tar with ``metadata/BUILD_ID`` set to ``build_id`` (added when missing)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as old, tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as new:
        template = None
        for info in old.getmembers():
            if info.name == "metadata/BUILD_ID":
                template = info
                continue
            new.addfile(info, old.extractfile(info) if info.isreg() else None)
            template = template or info
        value = f"{build_id}\n".encode()
        new.addfile(member_like(template or tarfile.TarInfo(), "metadata/BUILD_ID", len(value)), io.BytesIO(value))
    return out.getvalue()
