"""The live parts of the dashboard's pages: what each page shows, rendered again for the refresh (``/ui/part/NAME``).

``ui.js`` fetches a part every few seconds and swaps it in when it changed; a build log is
followed in chunks from ``/ui/live/log/ATTEMPT?offset=N``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from swarm_celery.api.auth import Ctx
from swarm_celery.api.context import ApiContext
from swarm_celery.api.ui.web import HEADERS, Looker, not_found, templates
from swarm_celery.buildlogs import BuildLogs
from swarm_celery.clock import SystemClock
from swarm_celery.domain.healing import Level
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.timeline import chart
from swarm_celery.errors import NotFoundError
from swarm_celery.services.explain import Explainer
from swarm_celery.store.models import Base

router = APIRouter(prefix="/ui", include_in_schema=False)
STATES = ("published", "built", "building", "dispatched", "needed", "failed", "blocked", "skipped", "cancelled")
STAGES = ("ready", "waiting", "building", "blocked", "done")
PLAN_ROWS = 500  # rows a plan page lists (filter to see others)
EVENTS = 100


def safe_next(target: str) -> str:
    """Where to go after logging in: a dashboard path only (never another site)."""
    return target if target.startswith("/ui") and not target.startswith("//") and "\\" not in target else "/ui"


def segments(counts: dict[str, int], planned: int) -> list[tuple[str, float, float, int]]:
    """The stacked progress bar: (state, x, width, count) in percent of the plan, final states first."""
    out, x = [], 0.0
    for state in STATES:
        count = counts.get(state, 0)
        if count and planned:
            width = 100.0 * count / planned
            out.append((state, x, width, count))
            x += width
    return out


def chosen_session(ctx: ApiContext, given: str) -> str:
    if given:
        found = ctx.queries.session_ids(given, limit=1)
        return found[0] if found else given
    return ctx.queries.latest_session() or ""


def overview_values(ctx: ApiContext) -> dict[str, Any]:
    found = ctx.queries.overview(limit=10)
    return {"overview": found, "bars": {p.session.session: segments(p.session.counts, p.session.planned) for p in found.sessions}}


def timeline_values(ctx: ApiContext, session: str, window: float) -> dict[str, Any]:
    chosen = chosen_session(ctx, session)
    now = time.time()
    attempts = ctx.queries.timeline(chosen, since=now - window if window else 0.0) if chosen else []
    return {"session": chosen, "window": window, "chart": chart(attempts, now), "attempts": len(attempts),
            "sessions": ctx.queries.sessions(20)}


def plan_values(ctx: ApiContext, session: str, stage: str, q: str) -> dict[str, Any]:
    chosen = chosen_session(ctx, session)
    stage = stage if stage in STAGES else ""
    rows = ctx.queries.plan(chosen, stage, q, limit=PLAN_ROWS + 1) if chosen else []
    per_stage = ctx.queries.plan_stages(chosen) if chosen else dict.fromkeys(STAGES, 0)
    return {"session": chosen, "stage": stage, "q": q, "rows": rows[:PLAN_ROWS], "more": len(rows) > PLAN_ROWS,
            "per_stage": per_stage, "stages": STAGES, "sessions": ctx.queries.sessions(20)}


def fleet_values(ctx: ApiContext) -> dict[str, Any]:
    return {"drones": ctx.queries.fleet(), "levels": {int(level): level.label for level in Level}, "paused": ctx.queries.swarm_paused()}


def events_values(ctx: ApiContext, kind: str) -> dict[str, Any]:
    return {"events": list(reversed(ctx.queries.events(None, EVENTS, kind=kind))), "kind": kind, "limit": EVENTS}


def logs_values(ctx: ApiContext, session: str) -> dict[str, Any]:
    chosen = chosen_session(ctx, session)
    attempts = ctx.queries.history(chosen) if chosen else []
    running = [a for a in attempts if a.finished_at is None]
    finished = sorted((a for a in attempts if a.finished_at is not None), key=lambda a: a.finished_at or 0.0, reverse=True)
    return {"session": chosen, "running": running, "finished": finished[:100], "sessions": ctx.queries.sessions(20)}


def sql_values(ctx: ApiContext, query: str, result: Any, error: str) -> dict[str, Any]:
    tables = [(t.name, [(c.name, str(c.type)) for c in t.columns]) for t in sorted(Base.metadata.tables.values(), key=lambda t: t.name)]
    return {"tables": tables, "query": query, "result": result, "error": error, "enabled": ctx.sql is not None}


def control_values(ctx: ApiContext) -> dict[str, Any]:
    return {"drones": ctx.queries.fleet(), "sessions": ctx.queries.sessions(20), "paused": ctx.queries.swarm_paused(),
            "events": list(reversed(ctx.queries.events(None, 10, kind="control")))}


def explainer(ctx: ApiContext) -> Explainer:
    return ctx.explainer or Explainer(ctx.store, SystemClock(), SchedulerConfig())


Values = Callable[[ApiContext, dict[str, str]], dict[str, Any]]
PARTS: dict[str, tuple[str, Values]] = {
    "overview": ("part_overview.html", lambda ctx, p: overview_values(ctx)),
    "timeline": ("part_timeline.html", lambda ctx, p: timeline_values(ctx, p.get("session", ""), float(p.get("window") or 0))),
    "plan": ("part_plan.html", lambda ctx, p: plan_values(ctx, p.get("session", ""), p.get("stage", ""), p.get("q", ""))),
    "fleet": ("part_fleet.html", lambda ctx, p: fleet_values(ctx)),
    "events": ("part_events.html", lambda ctx, p: events_values(ctx, p.get("kind", ""))),
    "logs": ("part_logs.html", lambda ctx, p: logs_values(ctx, p.get("session", ""))),
}


@router.get("/part/{name}", response_class=HTMLResponse)
def part(request: Request, ctx: Ctx, who: Looker, name: str) -> HTMLResponse:
    if name not in PARTS:
        raise not_found(f"no live part {name[:40]}")
    template, values = PARTS[name]
    params = {k: v[:200] for k, v in request.query_params.items()}
    try:
        found = values(ctx, params)
    except ValueError:
        raise not_found("bad parameters") from None
    response = templates.TemplateResponse(request, template, {"viewer": who, "now": time.time(), **found})
    response.headers.update(HEADERS)
    return response


@router.get("/live/log/{attempt}")
async def live_log(ctx: Ctx, who: Looker, attempt: str, offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    del who
    try:
        chunk = await run_in_threadpool(BuildLogs(ctx.config.logs_dir, ctx.queries).read, attempt, offset)
    except NotFoundError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404, headers=HEADERS)
    return JSONResponse({"text": chunk.text, "next_offset": chunk.next_offset, "done": chunk.done, "exists": chunk.exists}, headers=HEADERS)
