"""What an artifact or log upload may be called, and which drone may upload for which attempt.

Pure rules; the API streams the bytes (swarm_celery.api.uploads). Names never reach the
filesystem unchecked: one path component, a GPKG name, no dot-files, no traversal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swarm_celery.domain.names import ATTEMPT_ID, SHA256

ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+_.-]{0,200}\.gpkg\.tar")
UPLOADABLE_STATES = frozenset({"dispatched", "started"})  # an attempt the coordinator still waits on
UPLOAD_SCHEME = "upload:"  # a reported artifact_path "upload://<attempt>/<name>": the coordinator holds the file


class UploadRefused(ValueError):
    """The upload is refused: a bad request (4xx), or the coordinator cannot store it (5xx; 507 when its disk is full)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class UploadLimits:
    artifact_bytes: int = 8 * 1024**3  # a GPKG of chromium or texlive is a few hundred MiB; 8 GiB is room with a bound
    log_bytes: int = 256 * 1024**2


def check_attempt_id(attempt_id: str) -> None:
    if not ATTEMPT_ID.fullmatch(attempt_id):
        raise UploadRefused(404, f"no attempt {attempt_id[:40]!r}: attempt ids are 32 hex digits")


def check_artifact(attempt_id: str, name: str, sha256: str) -> None:
    check_attempt_id(attempt_id)
    if not ARTIFACT_NAME.fullmatch(name) or ".." in name:
        raise UploadRefused(400, f"artifact name {name[:80]!r} is not a GPKG file name (category-free <PF>-<BUILD_ID>.gpkg.tar)")
    if not SHA256.fullmatch(sha256):
        raise UploadRefused(400, "X-Swarm-Sha256 must be the artifact's sha256 as 64 lower-case hex digits")


def check_uploader(drone: str, attempt_state: str | None, attempt_drone: str | None, attempt_queue: str | None) -> None:
    """May ``drone`` upload for this attempt? Only while it is in flight, and only the drone it was given to."""
    if attempt_state is None:
        raise UploadRefused(404, "no such attempt")
    if attempt_drone != drone and attempt_queue != f"drone.{drone}":
        raise UploadRefused(403, f"this attempt was given to {attempt_drone or attempt_queue}, not to {drone}")
    if attempt_state not in UPLOADABLE_STATES:
        raise UploadRefused(409, f"the attempt is {attempt_state}: the coordinator no longer waits for it (a stale upload is discarded)")


def upload_ref(attempt_id: str, name: str) -> str:
    """What a drone reports as artifact_path for an uploaded artifact."""
    return f"{UPLOAD_SCHEME}//{attempt_id}/{name}"


def parse_upload_ref(path: str) -> tuple[str, str] | None:
    """(attempt id, name) of an ``upload://`` reference (either slash form), None for a plain path; UploadRefused if malformed."""
    if not path.startswith(UPLOAD_SCHEME):
        return None
    parts = [p for p in path[len(UPLOAD_SCHEME):].split("/") if p]
    if len(parts) != 2:
        raise UploadRefused(400, f"malformed upload reference {path[:80]!r}")
    check_artifact(parts[0], parts[1], "0" * 64)
    return parts[0], parts[1]
