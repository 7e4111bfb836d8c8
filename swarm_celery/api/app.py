"""The coordinator API: one FastAPI application built from an :class:`ApiContext` (bootstrap builds that).

Errors are ``{"error": "..."}`` with the status that says whose fault it is; request
validation errors keep FastAPI's documented 422 shape. The binhost tree is served as
static files under ``/binhost/<arch>/`` so ``emerge --getbinpkg`` fetches straight from here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath

import fastapi_offline
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from swarm_celery.api import auth, routes_admin, routes_drone, routes_generations, routes_profiles, routes_read
from swarm_celery.api.context import ApiContext
from swarm_celery.api.metrics import registry_for
from swarm_celery.api.models import HealthOut, errors
from swarm_celery.api.ui import mount_ui
from swarm_celery.errors import RecordError, RecordFull
from swarm_celery.ports import RecordReader

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI and ReDoc, served from here: /docs works offline


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
                found = str(RecordError.damaged(found)) if found else ""
            except Exception as exc:  # any driver error means the same to a load balancer
                found = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            self._last = (now, found)
        return self._last[1]


def create_api(ctx: ApiContext) -> FastAPI:
    app = FastAPI(title="build-swarm coordinator", version=ctx.version, docs_url=None, redoc_url=None,
                  description="Status, history, queue and control of a build-swarm; artifact and log uploads from drones; "
                              "the binhost itself under /binhost/<arch>/. The dashboard is at /ui.")
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

    _docs(app)
    mount_ui(app)
    for router in (routes_read.api, routes_profiles.reads, routes_generations.reads, routes_admin.api, routes_profiles.admin,
                   routes_generations.admin, routes_drone.api):
        app.include_router(router)
    ctx.config.binhost_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/binhost", PublicFiles(directory=ctx.config.binhost_dir, check_dir=False), name="binhost")
    return app


class PublicFiles(StaticFiles):
    """The binhost tree as files, but never a dot-file (the index's offsets sidecar, locks, temporary files)."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in PurePosixPath(path).parts):
            return "", None
        return super().lookup_path(path)


def _docs(app: FastAPI) -> None:
    """/docs (Swagger UI) with its scripts served by the API itself, not from a CDN (ReDoc is left out: its bundle fetches
    a logo from its vendor's CDN)."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API", swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)
