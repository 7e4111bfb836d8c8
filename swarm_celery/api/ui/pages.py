"""The dashboard's pages (GET): overview, timeline, plan and explain, fleet, events, logs, SQL explorer, control panel.

Each page is its live part (``parts.py`` renders the same part again for the refresh) inside
the frame of ``templates/base.html``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from swarm_celery.api.auth import Ctx
from swarm_celery.api.ui import parts
from swarm_celery.api.ui.session import COOKIE, Viewer
from swarm_celery.api.ui.web import Admin, Looker, page, signer
from swarm_celery.domain.controls import Action
from swarm_celery.errors import NotFoundError

router = APIRouter(prefix="/ui", include_in_schema=False)
SessionParam = Annotated[str, Query(max_length=32, pattern=r"^[0-9a-f]*$")]


@router.get("", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx, who: Looker) -> HTMLResponse:
    return page(request, "overview.html", who, title="overview", **parts.overview_values(ctx))


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, ctx: Ctx, next: Annotated[str, Query(max_length=512)] = "/ui") -> HTMLResponse:
    who = signer(request).check(request.cookies.get(COOKIE))
    return page(request, "login.html", who or Viewer(admin=False), title="log in", next=parts.safe_next(next),
                configured=bool(ctx.config.admin_token), public=ctx.config.public_status)


@router.get("/timeline", response_class=HTMLResponse)
def timeline(request: Request, ctx: Ctx, who: Looker, session: SessionParam = "",
             window: Annotated[float, Query(ge=0, le=7 * 86400)] = 0.0) -> HTMLResponse:
    return page(request, "timeline.html", who, title="timeline", **parts.timeline_values(ctx, session, window))


@router.get("/plan", response_class=HTMLResponse)
def plan(request: Request, ctx: Ctx, who: Looker, session: SessionParam = "",
         stage: Annotated[str, Query(max_length=16)] = "", q: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    return page(request, "plan.html", who, title="plan", **parts.plan_values(ctx, session, stage, q))


@router.get("/explain", response_class=HTMLResponse)
def explain(request: Request, ctx: Ctx, who: Looker, atom: Annotated[str, Query(min_length=1, max_length=256)],
            session: SessionParam = "") -> HTMLResponse:
    try:
        found = parts.explainer(ctx).explain(atom, session)
    except NotFoundError as exc:
        return page(request, "explain.html", who, status=404, title=f"explain {atom}", atom=atom, error=str(exc), found=[])
    return page(request, "explain.html", who, title=f"explain {atom}", atom=atom, error="", found=found)


@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, ctx: Ctx, who: Looker) -> HTMLResponse:
    return page(request, "fleet.html", who, title="fleet", **parts.fleet_values(ctx))


@router.get("/events", response_class=HTMLResponse)
def events(request: Request, ctx: Ctx, who: Looker, kind: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    return page(request, "events.html", who, title="events", **parts.events_values(ctx, kind))


@router.get("/logs", response_class=HTMLResponse)
def logs(request: Request, ctx: Ctx, who: Looker, session: SessionParam = "") -> HTMLResponse:
    return page(request, "logs.html", who, title="build logs", **parts.logs_values(ctx, session))


@router.get("/logs/{attempt}", response_class=HTMLResponse, response_model=None)
def log(request: Request, ctx: Ctx, who: Looker, attempt: str) -> HTMLResponse:
    owner = ctx.queries.attempt(attempt) if len(attempt) == 32 else None
    if owner is None:
        return page(request, "log.html", who, status=404, title="build log", attempt=attempt[:40], owner=None, cpv="")
    found = next((a for a in ctx.queries.history(owner.session) if a.attempt == attempt), None)
    return page(request, "log.html", who, title=f"log {found.cpv if found else attempt}", attempt=attempt, owner=owner,
                cpv=found.cpv if found else "", view=found)


@router.get("/sql", response_class=HTMLResponse)
def sql(request: Request, ctx: Ctx, who: Admin) -> HTMLResponse:
    return page(request, "sql.html", who, title="SQL explorer", **parts.sql_values(ctx, "", None, ""))


@router.get("/control", response_class=HTMLResponse)
def control(request: Request, ctx: Ctx, who: Admin, done: Annotated[str, Query(max_length=500)] = "",
            ok: bool = True) -> HTMLResponse:
    return page(request, "control.html", who, title="control", actions=list(Action), done=done, ok=ok, **parts.control_values(ctx))
