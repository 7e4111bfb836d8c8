"""Read routes: status, sessions, packages, history, events, fleet, build logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse

from swarm_celery.api import auth
from swarm_celery.api.auth import Ctx
from swarm_celery.api.context import ApiContext
from swarm_celery.api.models import errors
from swarm_celery.domain.names import ATTEMPT_ID
from swarm_celery.domain.views import AttemptView, DroneView, EventView, PackageView, SessionView

SESSION_PATTERN = r"^[0-9a-f]{1,32}$"
SessionId = Annotated[str, Path(pattern=SESSION_PATTERN, description="A session id (see /api/v1/sessions).")]
SessionFilter = Annotated[str | None, Query(pattern=SESSION_PATTERN)]
NOT_FOUND = errors(401, 404)
api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.reader)], responses=errors(401))


def session_or_404(ctx: ApiContext, session_id: str) -> SessionView:
    found = ctx.queries.session(session_id)
    if found is None:
        raise HTTPException(404, f"no session {session_id}; list them at /api/v1/sessions")
    return found


@api.get("/status", response_model=SessionView, responses=NOT_FOUND, summary="The newest session (or ?session=) and its counts")
def status(ctx: Ctx, session: SessionFilter = None) -> SessionView:
    chosen = session or ctx.queries.latest_session()
    if chosen is None:
        raise HTTPException(404, "no sessions yet: queue one with POST /api/v1/queue or `build-swarm queue add`")
    return session_or_404(ctx, chosen)


@api.get("/sessions", response_model=list[SessionView], summary="Sessions, newest first")
def sessions(ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[SessionView]:
    return ctx.queries.sessions(limit)


@api.get("/sessions/{session_id}", response_model=SessionView, responses=NOT_FOUND)
def session(ctx: Ctx, session_id: SessionId) -> SessionView:
    return session_or_404(ctx, session_id)


@api.get("/sessions/{session_id}/packages", response_model=list[PackageView], responses=NOT_FOUND)
def packages(ctx: Ctx, session_id: SessionId) -> list[PackageView]:
    session_or_404(ctx, session_id)
    return ctx.queries.packages(session_id)


@api.get("/sessions/{session_id}/history", response_model=list[AttemptView], responses=NOT_FOUND, summary="Every attempt")
def history(ctx: Ctx, session_id: SessionId) -> list[AttemptView]:
    session_or_404(ctx, session_id)
    return ctx.queries.history(session_id)


@api.get("/events", response_model=list[EventView])
def events(ctx: Ctx, session: SessionFilter = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
           kind: Annotated[str, Query(max_length=64, description="Kinds starting with this, e.g. attempt.reclaimed")] = "",
           since: Annotated[float, Query(ge=0, le=1e12, description="Only events at or after this Unix time")] = 0.0) -> list[EventView]:
    return ctx.queries.events(session, limit, kind=kind, since=since)


@api.get("/fleet", response_model=list[DroneView], summary="Drones the coordinator has heard from, with their latest probe")
def fleet(ctx: Ctx) -> list[DroneView]:
    return ctx.queries.fleet()


@api.get("/logs/{attempt_id}", response_class=FileResponse, summary="The full build log of an attempt",
         responses={**NOT_FOUND, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def log(ctx: Ctx, attempt_id: Annotated[str, Path(max_length=64)]) -> FileResponse:
    path = ctx.config.logs_dir / f"{attempt_id}.log"
    if not ATTEMPT_ID.fullmatch(attempt_id) or not path.is_file():
        raise HTTPException(404, f"no build log for attempt {attempt_id[:40]}: drones upload it when the build ends")
    return FileResponse(path, media_type="text/plain; charset=utf-8")
