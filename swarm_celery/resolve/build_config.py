"""The plans' portage configurations, kept as ``<dir>/<hash>.json`` for the drones (:mod:`swarm_celery.domain.build_config`).

The coordinator's dispatcher publishes a session's configuration the first time it sends one of its
builds (:class:`~swarm_celery.ports.BuildConfigs`); drones fetch it by hash from the API
(``GET /api/v1/build-configs/<hash>``, their token) or, on a shared ``SWARM_HOME``, read the same file.
Files are written once, atomically, and never change: a hash always names the same configuration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from swarm_celery.domain.build_config import BuildConfig, check_config_hash
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve.root import repo_name


def build_config(request: ResolveRequest) -> BuildConfig:
    """The configuration a plan of ``request`` is built with: its profile, its repositories by name, its files."""
    return BuildConfig.of(request.arch, request.gentoo_profile, tuple(repo_name(Path(r)) for r in request.repos),
                          request.config_files)


class BuildConfigFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, config_hash: str) -> Path:
        return self.directory / f"{check_config_hash(config_hash)}.json"

    def publish(self, request: ResolveRequest) -> str:
        config = build_config(request)
        digest = config.digest()
        dest = self.path(digest)
        if not dest.is_file():
            self.directory.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
            part.write_text(json.dumps(config.to_json(), indent=1, sort_keys=True))
            os.replace(part, dest)
        return digest

    def read(self, config_hash: str) -> BuildConfig | None:
        """The configuration published under ``config_hash``; None when there is none (ValueError: not a hash)."""
        try:
            text = self.path(config_hash).read_text()
        except FileNotFoundError:
            return None
        return BuildConfig.from_json(json.loads(text))


__all__ = ["BuildConfigFiles", "build_config"]
