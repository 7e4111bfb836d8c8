"""The drone's side of artifact transport: PUT the GPKG (and the build log) to the coordinator API.

Streams the file with its Content-Length and sha256, authenticated by the drone's token.
Connection errors, 5xx and 429 are retried with exponential backoff; any other refusal
(401, 403, 409, 413, 422, ...) is final: the attempt then fails as an infrastructure
failure (``build-swarm: upload failed``), retried on another drone by the coordinator.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from swarm_celery.domain.build_config import BuildConfig, check_config_hash
from swarm_celery.domain.failures import COORDINATOR_FULL
from swarm_celery.domain.uploads import upload_ref
from swarm_celery.errors import UploadFailed

log = logging.getLogger(__name__)
RETRIED = frozenset({429, 500, 502, 503, 504, 507})  # 507: the coordinator's disk is full, perhaps for a moment


class HttpUploader:
    def __init__(self, base_url: str, token: str, *, tries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.tries = tries
        self.backoff = backoff
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout, transport=transport)

    def artifact(self, attempt_id: str, path: Path, sha256: str) -> str:
        """Upload the built GPKG; what the drone reports as its artifact_path."""
        url = f"{self.base_url}/api/v1/artifacts/{quote(attempt_id, safe='')}/{quote(path.name, safe='')}"
        self._put(url, path, {"X-Swarm-Sha256": sha256, "Content-Type": "application/octet-stream"})
        return upload_ref(attempt_id, path.name)

    def log(self, attempt_id: str, path: Path) -> None:
        self._put(f"{self.base_url}/api/v1/logs/{quote(attempt_id, safe='')}", path, {"Content-Type": "application/octet-stream"})

    def build_config(self, config_hash: str) -> BuildConfig:
        """A plan's configuration by its hash (``GET /api/v1/build-configs/<hash>``), retried like an upload."""
        url = f"{self.base_url}/api/v1/build-configs/{check_config_hash(config_hash)}"
        last = ""
        for attempt in range(1, self.tries + 1):
            try:
                response = self.client.get(url)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return BuildConfig.from_json(response.json())
                    except ValueError as exc:
                        raise UploadFailed(f"{url} answered with no build configuration: {exc}") from None
                last = f"HTTP {response.status_code}: {_error(response)}"
                if response.status_code not in RETRIED:
                    raise UploadFailed(f"{url}: {last}")
            if attempt < self.tries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise UploadFailed(f"{url} could not be fetched after {self.tries} tries: {last}")

    def _put(self, url: str, path: Path, headers: dict[str, str]) -> None:
        last, status = "", 0
        for attempt in range(1, self.tries + 1):
            try:
                with path.open("rb") as body:
                    response = self.client.put(url, content=body, headers={**headers, "Content-Length": str(path.stat().st_size)})
            except (httpx.TransportError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return
                status, last = response.status_code, f"HTTP {response.status_code}: {_error(response)}"
                if response.status_code not in RETRIED:
                    raise UploadFailed(f"{path.name} refused by {self.base_url}: {last}")
            if attempt < self.tries:
                wait = self.backoff * 2 ** (attempt - 1)
                log.warning("upload of %s failed (%s); try %d of %d in %.0f s", path.name, last, attempt + 1, self.tries, wait)
                time.sleep(wait)
        if status == 507:  # the coordinator's fault, and the report says so: it counts against neither this drone nor the package
            raise UploadFailed(f"{COORDINATOR_FULL} (HTTP 507): {path.name} could not be uploaded after {self.tries} tries")
        raise UploadFailed(f"{path.name} could not be uploaded to {self.base_url} after {self.tries} tries: {last}")


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error") or body.get("detail") or body)[:300] if isinstance(body, dict) else str(body)[:300]
