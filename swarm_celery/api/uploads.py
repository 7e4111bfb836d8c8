"""Stream an upload into the coordinator's upload area: size-limited, hashed on the way, renamed into place only when whole.

A client never sees a half-written file under its final name: bytes go to ``.<name>.<random>.part``,
and only an upload of the announced length whose sha256 matches is renamed. Anything else
leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from swarm_celery.domain.uploads import UploadRefused


async def receive(chunks: AsyncIterator[bytes], dest: Path, *, limit: int, declared: int | None, sha256: str | None) -> tuple[int, str]:
    """Write the stream to ``dest`` (atomically); returns (size, sha256). UploadRefused (4xx) for a bad upload."""
    if declared is not None and declared > limit:
        raise UploadRefused(413, f"upload of {declared} bytes is over the limit of {limit} bytes")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.part")  # a retry racing a slow first try writes its own file
    digest, size = hashlib.sha256(), 0
    try:
        with open(part, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(413, f"upload is over the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if declared is not None and size != declared:
            raise UploadRefused(400, f"truncated upload: {size} of {declared} bytes arrived")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise UploadRefused(400, f"sha256 mismatch: the upload hashes to {digest.hexdigest()}, the drone said {sha256}")
        os.replace(part, dest)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the coordinator's fault: the drone counts it against no one
            raise UploadRefused(507, f"the coordinator's disk is full ({exc.strerror}): the upload is kept on the drone and tried "
                                     "again; free space in SWARM_HOME") from None
        raise UploadRefused(500, f"the coordinator could not store the upload: {exc.strerror}") from None
    finally:
        part.unlink(missing_ok=True)
    return size, digest.hexdigest()
