"""What the API is built from: its configuration and the adapters bootstrap hands it (no settings read here)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from swarm_celery.api.sql import ReadOnlySql
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.model import DroneIdentity
from swarm_celery.domain.uploads import UploadLimits
from swarm_celery.ports import ControlQueue, PlanQueue
from swarm_celery.services.explain import Explainer
from swarm_celery.services.generations import Generations
from swarm_celery.services.profiles import ProfileSync
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from swarm_celery.store.token_repo import DroneTokens


class Messenger(PlanQueue, ControlQueue, Protocol):
    """The coordinator queue, as the API uses it: the coordinator stays the only writer of plans and states."""

    def hello(self, identity: DroneIdentity) -> None: ...


class RequestMaker(Protocol):
    def __call__(self, atoms: tuple[str, ...], arch: str) -> ResolveRequest: ...


@dataclass(frozen=True)
class ApiConfig:
    admin_token: str  # SWARM_API_TOKEN: queue, control, SQL, and every read unless public_status
    public_status: bool  # SWARM_PUBLIC_STATUS=1: status, sessions, history, events, fleet, logs and metrics need no token
    uploads_dir: Path
    logs_dir: Path  # build logs, <logs_dir>/<attempt>.log
    binhost_dir: Path
    limits: UploadLimits = field(default_factory=UploadLimits)
    build_configs_dir: Path | None = None  # the plans' configurations drones fetch by hash (resolve.build_config)

    def is_admin(self, token: str) -> bool:
        return bool(self.admin_token) and secrets.compare_digest(token.encode(), self.admin_token.encode())


@dataclass(frozen=True)
class ApiContext:
    config: ApiConfig
    queries: Queries
    store: SqlStore
    tokens: DroneTokens
    messenger: Messenger
    make_request: RequestMaker
    sql: ReadOnlySql | None
    version: str
    syncer: ProfileSync
    sessions: SessionQueue
    explainer: Explainer | None = None  # `explain` for the dashboard (None: one with the default scheduler settings)
    generations: Generations | None = None  # the binhost generations (None: their routes answer 503)
