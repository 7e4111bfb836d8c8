"""The dashboard's forms (POST): log in and out, run a read-only SQL query, send a control. Admin only, CSRF-checked.

A control is sent the way ``POST /api/v1/control`` sends it (the coordinator applies it and
records its answer); the page then shows that answer (post, redirect, get).
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from swarm_celery.api.auth import Ctx
from swarm_celery.api.routes_admin import send_control
from swarm_celery.api.sql import SqlRefused
from swarm_celery.api.ui import parts
from swarm_celery.api.ui.session import COOKIE, LIFETIME, Viewer, csrf_ok
from swarm_celery.api.ui.web import HEADERS, Admin, page, signer
from swarm_celery.domain.controls import Action, ControlRequest, validate
from swarm_celery.errors import BrokerError

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_FORM = 64 * 1024
WRONG_TOKEN_PAUSE = 1.0  # seconds a wrong token waits before its answer (guessing gets slow)
SQL_ROWS = 200


async def form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def forbidden(request: Request, who: Viewer) -> HTMLResponse:
    return page(request, "login.html", who, status=403, title="log in", next="/ui", configured=True, public=False,
                error="the form expired or did not come from this dashboard: load the page again and retry")


@router.post("/login", response_model=None)
async def login(request: Request, ctx: Ctx) -> Response:
    fields = await form(request)
    target = parts.safe_next(fields.get("next", "/ui"))
    if not ctx.config.is_admin(fields.get("token", "")):
        await asyncio.sleep(WRONG_TOKEN_PAUSE)
        error = ("that is not the admin token (SWARM_API_TOKEN on the coordinator)" if ctx.config.admin_token else
                 "no admin token is configured: set SWARM_API_TOKEN on the coordinator and restart it")
        return page(request, "login.html", Viewer(admin=False), status=401, title="log in", next=target,
                    configured=bool(ctx.config.admin_token), public=ctx.config.public_status, error=error)
    response = RedirectResponse(target, status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, signer(request).issue(), max_age=int(LIFETIME), path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, who: Admin) -> Response:
    if not csrf_ok(who, (await form(request)).get("csrf", "")):
        return forbidden(request, who)
    response = RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@router.post("/sql", response_class=HTMLResponse)
async def sql(request: Request, ctx: Ctx, who: Admin) -> HTMLResponse:
    fields = await form(request)
    if not csrf_ok(who, fields.get("csrf", "")):
        return forbidden(request, who)
    query = fields.get("query", "").strip()[:10_000]
    result, error = None, ""
    if ctx.sql is None:
        error = "read-only SQL is off: on Postgres, set SWARM_SQL_DATABASE_URL to a role that may only SELECT"
    elif not query:
        error = "write a query first (one SELECT)"
    else:
        try:
            result = await run_in_threadpool(ctx.sql.run, query, SQL_ROWS)
        except SqlRefused as exc:
            error = str(exc)
    return page(request, "sql.html", who, title="SQL explorer", **parts.sql_values(ctx, query, result, error))


@router.post("/control", response_model=None)
async def control(request: Request, ctx: Ctx, who: Admin) -> Response:
    fields = await form(request)
    if not csrf_ok(who, fields.get("csrf", "")):
        return forbidden(request, who)
    try:
        wanted = validate(ControlRequest(Action(fields.get("action", "")), fields.get("drone", ""), fields.get("session", ""),
                                         fields.get("atom", "").strip(), uuid.uuid4().hex))
        outcome = await send_control(ctx, wanted, 10.0)
    except ValueError as exc:
        outcome = f"error: {exc}"
    except BrokerError as exc:
        outcome = f"error: {exc}"
    if outcome is None:
        outcome = "the coordinator did not answer within 10 s; the request stays queued and applies when it runs"
    done = {"done": outcome[:400], "ok": "0" if outcome.startswith("error:") else "1"}
    return RedirectResponse(f"/ui/control?{urlencode(done)}", status_code=303, headers=HEADERS)
