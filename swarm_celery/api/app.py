"""The coordinator API: one FastAPI application built from an :class:`ApiContext` (bootstrap builds that).

Errors are ``{"error": "..."}`` with the status that says whose fault it is; request
validation errors keep FastAPI's documented 422 shape. The binhost tree is served as
static files under ``/binhost/<arch>/`` so ``emerge --getbinpkg`` fetches straight from here.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from swarm_celery.api import auth, routes_admin, routes_drone, routes_profiles, routes_read
from swarm_celery.api.context import ApiContext
from swarm_celery.api.metrics import registry_for
from swarm_celery.api.models import HealthOut, errors


def create_api(ctx: ApiContext) -> FastAPI:
    app = FastAPI(title="build-swarm coordinator", version=ctx.version,
                  description="Status, history, queue and control of a build-swarm; artifact and log uploads from drones; "
                              "the binhost itself under /binhost/<arch>/.")
    registry, counter = registry_for(ctx.queries)
    app.state.ctx, app.state.uploads = ctx, counter  # what the routes' dependencies read (auth.context)

    @app.exception_handler(StarletteHTTPException)  # ours, and the framework's own (404 no route, 405, unparsable body)
    async def error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}}, summary="Liveness, and whether the record answers")
    def health() -> HealthOut | JSONResponse:
        try:
            with ctx.queries.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means the same to a load balancer
            body = HealthOut(status="degraded", database=f"error: {type(exc).__name__}", version=ctx.version)
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
