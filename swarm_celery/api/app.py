"""The coordinator API: one FastAPI application built from an :class:`ApiContext` (bootstrap builds that).

Errors are ``{"error": "..."}`` with the status that says whose fault it is; request
validation errors keep FastAPI's documented 422 shape. The binhost tree is served as
static files under ``/binhost/<arch>/`` so ``emerge --getbinpkg`` fetches straight from here.
"""

from __future__ import annotations

import time

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from swarm_celery.api import auth, routes_admin, routes_drone, routes_profiles, routes_read
from swarm_celery.api.context import ApiContext
from swarm_celery.api.metrics import registry_for
from swarm_celery.api.models import HealthOut, errors
from swarm_celery.errors import RecordError, RecordFull
from swarm_celery.ports import RecordReader


class IntegrityCheck:
    """Whether the record reads whole, asked at most every ``every`` seconds (a full page check is not free)."""

    def __init__(self, queries: RecordReader, every: float = 30.0) -> None:
        self.queries = queries
        self.every = every
        self._last: tuple[float, str] | None = None

    def problem(self) -> str:
        now = time.monotonic()
        if self._last is None or now - self._last[0] > self.every or self._last[1]:
            try:
                found = self.queries.integrity()
            except Exception as exc:  # any driver error means the same to a load balancer
                found = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            self._last = (now, found)
        return self._last[1]


def create_api(ctx: ApiContext) -> FastAPI:
    app = FastAPI(title="build-swarm coordinator", version=ctx.version,
                  description="Status, history, queue and control of a build-swarm; artifact and log uploads from drones; "
                              "the binhost itself under /binhost/<arch>/.")
    registry, counter = registry_for(ctx.queries)
    checker = IntegrityCheck(ctx.queries)
    app.state.ctx, app.state.uploads = ctx, counter  # what the routes' dependencies read (auth.context)

    @app.exception_handler(StarletteHTTPException)  # ours, and the framework's own (404 no route, 405, unparsable body)
    async def error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RecordError)  # the record is damaged or full: one line, not a traceback and a plain 500
    async def record_error(_: Request, exc: RecordError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=507 if isinstance(exc, RecordFull) else 503)

    @app.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}}, summary="Liveness, and whether the record answers")
    def health() -> HealthOut | JSONResponse:
        problem = checker.problem()
        if problem:
            body = HealthOut(status="degraded", database=f"error: {problem}", version=ctx.version)
            return JSONResponse(body.model_dump(), status_code=503)
        return HealthOut(status="ok", database="ok", version=ctx.version)

    @app.get("/metrics", dependencies=[Depends(auth.reader)], response_class=Response, summary="Prometheus metrics",
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **errors(401)})
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in (routes_read.api, routes_profiles.reads, routes_admin.api, routes_profiles.admin, routes_drone.api):
        app.include_router(router)
    ctx.config.binhost_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/binhost", StaticFiles(directory=ctx.config.binhost_dir, check_dir=False), name="binhost")
    return app
