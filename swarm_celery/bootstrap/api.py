"""The coordinator's HTTP API on the same record and broker as its worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from swarm_celery.api.app import create_api
from swarm_celery.api.context import ApiConfig, ApiContext, RequestMaker
from swarm_celery.api.sql import ReadOnlySql
from swarm_celery.bootstrap.coordinator import explainer, generations, profile_requests
from swarm_celery.bootstrap.core import build_logs_dir, celery_app, engine, uploads_dir
from swarm_celery.bootstrap.inputs import request_from_options
from swarm_celery.clock import SystemClock
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.drone.identity import payload_version
from swarm_celery.services.profiles import ProfileSync
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.settings import Settings
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from swarm_celery.store.token_repo import DroneTokens
from swarm_celery.tasks.messaging import CeleryMessenger


def api_app(settings: Settings, make_request: RequestMaker) -> FastAPI:
    """The API: reads from the record, writes through the coordinator queue (the coordinator stays the only writer)."""
    eng = engine(settings)
    config = ApiConfig(admin_token=settings.api_token, public_status=settings.public_status, uploads_dir=uploads_dir(settings),
                       logs_dir=build_logs_dir(settings), binhost_dir=settings.binhost_dir,
                       build_configs_dir=settings.build_configs_dir)
    messenger = CeleryMessenger(celery_app(settings))
    the_store = SqlStore(eng, SystemClock())
    sessions = SessionQueue(the_store, messenger, simulated=settings.builder == "simulate")
    ctx = ApiContext(config=config, queries=Queries(eng, offline_after=settings.offline_after), store=the_store, tokens=DroneTokens(eng),
                     messenger=messenger, make_request=make_request,
                     sql=ReadOnlySql.for_urls(settings.database, settings.sql_database_url), version=payload_version(),
                     syncer=ProfileSync(the_store, profile_requests(settings), sessions), sessions=sessions,
                     explainer=explainer(settings), generations=generations(settings, the_store))
    return create_api(ctx)


def request_maker(settings: Settings, repos: tuple[Path, ...], portage_config: Path | None, gentoo_profile: str | None) -> RequestMaker:
    """How POST /api/v1/queue turns atoms into a request: as a world file of those atoms, against these trees."""
    def make(atoms: tuple[str, ...], arch: str) -> ResolveRequest:
        world = settings.home / "api-world" / f"{os.getpid()}-{time.monotonic_ns()}"
        world.parent.mkdir(parents=True, exist_ok=True)
        world.write_text("".join(f"{atom}\n" for atom in atoms))  # read and validated like any world file
        try:
            return request_from_options(settings, repos, world, portage_config, gentoo_profile, arch)[0]
        finally:
            world.unlink(missing_ok=True)
    return make


def serve_api(settings: Settings, make_request: RequestMaker, host: str | None = None, port: int | None = None) -> None:
    """Run the API in the foreground (uvicorn) until it is stopped."""
    app = api_app(settings, make_request)
    uvicorn.run(app, host=host or settings.api_host, port=port or settings.api_port, log_level="info", proxy_headers=False)
