"""Admin routes: queue a world, send a control, ask the record in read-only SQL."""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from swarm_celery.api import auth
from swarm_celery.api.auth import Ctx
from swarm_celery.api.context import ApiContext
from swarm_celery.api.models import ControlIn, ControlOut, QueueIn, QueueOut, SqlIn, SqlOut, errors
from swarm_celery.api.sql import SqlRefused
from swarm_celery.domain.config import check_atom_shape
from swarm_celery.domain.controls import ControlRequest, validate
from swarm_celery.errors import BrokerError, SwarmError

REFUSED = errors(400, 401, 503)
api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.admin)], responses=errors(401))


@api.post("/queue", response_model=QueueOut, status_code=202, responses=REFUSED,
          summary="Queue atoms for building (a new session); the coordinator resolves and dispatches it")
def queue(ctx: Ctx, body: QueueIn) -> QueueOut:
    try:
        atoms = tuple(check_atom_shape(a.strip()) for a in body.atoms)
        request = ctx.make_request(atoms, body.arch)
    except (ValueError, SwarmError) as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        session_id = ctx.sessions.queue(request, priority=body.priority, reuse=not body.rebuild)
    except BrokerError as exc:
        raise HTTPException(503, str(exc)) from None
    return QueueOut(session=session_id, atoms=list(request.world), priority=body.priority, arch=request.arch, rebuild=body.rebuild)


@api.post("/control", response_model=ControlOut, responses={202: {"model": ControlOut}, **errors(400, 401, 503)},
          summary="Pause, resume, unblock, unground, reset, rebalance, clear_failures, retry_failures or cancel")
async def control(ctx: Ctx, body: ControlIn) -> ControlOut | JSONResponse:
    """The coordinator's answer within ``wait`` seconds (200); 202 when it has not answered yet (``wait: 0`` never waits):
    the request stays queued and applies when the coordinator takes it."""
    try:
        request = validate(ControlRequest(body.action, body.drone, body.session, body.atom, uuid.uuid4().hex))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        outcome = await send_control(ctx, request, body.wait)
    except BrokerError as exc:
        raise HTTPException(503, str(exc)) from None
    if outcome is None:
        queued = ControlOut(action=body.action.value, request_id=request.request_id, ok=True,
                            outcome=f"queued: the coordinator applies it when it takes it (its answer: GET /api/v1/events?"
                                    f"kind=control and subject {request.request_id})")
        return JSONResponse(queued.model_dump(), status_code=202)
    return ControlOut(action=body.action.value, request_id=request.request_id, ok=not outcome.startswith("error:"), outcome=outcome)


async def send_control(ctx: ApiContext, request: ControlRequest, wait: float) -> str | None:
    """Send a control to the coordinator and wait up to ``wait`` seconds for its answer (None: none yet). BrokerError."""
    await run_in_threadpool(ctx.messenger.send_control, request)
    deadline = time.monotonic() + wait
    while True:
        outcome = await run_in_threadpool(ctx.queries.event_for, request.request_id)
        if outcome is not None or time.monotonic() >= deadline:
            return outcome
        await asyncio.sleep(0.05)


@api.post("/sql", response_model=SqlOut, responses=REFUSED,
          summary="One read-only query on the record (the database refuses any write)")
def sql(ctx: Ctx, body: SqlIn) -> SqlOut:
    if ctx.sql is None:
        raise HTTPException(503, "read-only SQL is off: on Postgres, set SWARM_SQL_DATABASE_URL to a role that may only "
                                 "SELECT (see the README)")
    try:
        result = ctx.sql.run(body.query, body.limit)
    except SqlRefused as exc:
        raise HTTPException(400, str(exc)) from None
    return SqlOut(columns=result.columns, rows=result.rows, truncated=result.truncated)

