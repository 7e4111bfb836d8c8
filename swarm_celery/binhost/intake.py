"""Taking in the artifact a drone's report names, as the untrusted input it is.

A report says where its GPKG is: ``upload://<attempt>/<name>`` (the API holds it) or, on one
host or a shared filesystem, ``<staging>/<attempt>/<name>``. Either must be the report's own
attempt and a GPKG file name; nothing else is opened. The file is opened without following a
symbolic link at any step below its area, must be a regular file (not a device, a FIFO or a
directory) and at most the size limit, and is copied — while hashing — into a private file of
the coordinator's, which is what gets verified, signed and published: what a drone can change
after the checks is never what is served. Every ``OSError`` is an :class:`ArtifactError`, and
no message says anything about a file outside these areas.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.domain.uploads import ARTIFACT_NAME, UPLOAD_SCHEME, UploadRefused, parse_upload_ref
from swarm_celery.errors import ArtifactError, CoordinatorFault

CHUNK = 1 << 20


@dataclass(frozen=True)
class Taken:
    path: Path  # the coordinator's own copy
    size: int
    sha256: str
    sha1: str


def where(reference: str, attempt_id: str, uploads: Path | None, staging: Path | None) -> tuple[Path, str]:
    """The area and the GPKG name a report's artifact reference names, or ArtifactError when it names anything else."""
    if reference.startswith(UPLOAD_SCHEME):
        try:
            ref = parse_upload_ref(reference)
        except UploadRefused as exc:
            raise ArtifactError(str(exc)) from None
        assert ref is not None
        if ref[0] != attempt_id:
            raise ArtifactError(f"the report names the upload of another attempt ({ref[0][:12]}…), not its own")
        if uploads is None:
            raise ArtifactError("the report names an upload, but this coordinator takes no uploads (no API)")
        return uploads, ref[1]
    path = Path(os.path.normpath(reference))
    if staging is None or path.parent != staging / attempt_id or not ARTIFACT_NAME.fullmatch(path.name):
        raise ArtifactError("the artifact path is not a GPKG in this attempt's staging directory; nothing was read")
    return staging, path.name


def take(area: Path, attempt_id: str, name: str, into: Path, limit: int) -> Taken:
    """Copy ``<area>/<attempt_id>/<name>`` into a new private file under ``into`` while hashing it (see the module)."""
    try:
        source = _open_below(area, attempt_id, name)
    except OSError as exc:
        raise ArtifactError(f"the artifact of attempt {attempt_id} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(source)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"the artifact of attempt {attempt_id} is not a regular file")
        if info.st_size > limit:
            raise ArtifactError(f"the artifact of attempt {attempt_id} is {info.st_size} bytes, over the {limit} limit")
        return _copy(source, into, limit, attempt_id)
    finally:
        os.close(source)


def fault(exc: OSError, what: str) -> ArtifactError:
    """An OSError as the artifact's failure, or — when the coordinator's own disk is full — as the coordinator's."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return CoordinatorFault(f"{what}: the coordinator's disk is full ({exc.strerror})")
    return ArtifactError(f"{what}: {exc.strerror}")


def _open_below(area: Path, attempt_id: str, name: str) -> int:
    """The file's descriptor, reached from ``area`` one component at a time, never through a symbolic link."""
    top = os.open(area, os.O_RDONLY | os.O_DIRECTORY)
    try:
        folder = os.open(attempt_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
        try:
            return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)  # a FIFO must not block us
        finally:
            os.close(folder)
    finally:
        os.close(top)


def _copy(source: int, into: Path, limit: int, attempt_id: str) -> Taken:
    into.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".intake-", suffix=".gpkg.tar", dir=into)
    h256, h1, size = hashlib.sha256(), hashlib.sha1(), 0
    try:
        with os.fdopen(handle, "wb") as out:
            while block := os.read(source, CHUNK):
                size += len(block)
                if size > limit:
                    raise ArtifactError(f"the artifact of attempt {attempt_id} grew past the {limit} byte limit while read")
                h256.update(block)
                h1.update(block)
                out.write(block)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise fault(exc, f"the artifact of attempt {attempt_id} could not be copied") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Taken(Path(name), size, h256.hexdigest(), h1.hexdigest())


__all__ = ["Taken", "take", "where"]
