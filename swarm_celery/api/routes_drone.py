"""Drone routes: artifact and build-log uploads for the drone's own attempts, its heartbeat, and the plans' configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from swarm_celery.api.auth import Ctx, Drone
from swarm_celery.api.context import ApiContext
from swarm_celery.api.models import Accepted, BuildConfigOut, HeartbeatIn, TokenOut, UploadOut, errors
from swarm_celery.api.uploads import receive
from swarm_celery.domain.model import DroneIdentity
from swarm_celery.domain.uploads import UploadRefused, check_artifact, check_attempt_id, check_uploader
from swarm_celery.resolve.build_config import BuildConfigFiles

REFUSED = errors(400, 401, 403, 404, 409, 411, 413, 500, 507)  # 422 stays FastAPI's request-validation answer
BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
Sha256 = Annotated[str, Header(alias="X-Swarm-Sha256", description="sha256 of the body, 64 lower-case hex digits")]


api = APIRouter(prefix="/api/v1", responses=errors(401))


async def authorize(ctx: ApiContext, drone: str, attempt_id: str) -> None:
    found = await run_in_threadpool(ctx.queries.attempt, attempt_id)
    check_uploader(drone, found.state if found else None, found.drone if found else None, found.queue if found else None)


async def store(request: Request, dest: Path, limit: int, sha256: str | None, what: str) -> tuple[int, str]:
    try:
        declared = int(request.headers["content-length"]) if "content-length" in request.headers else None
    except ValueError:
        raise UploadRefused(400, "Content-Length is not a number") from None
    if declared is None:
        raise UploadRefused(411, "send Content-Length: uploads of unknown length are refused")
    try:
        return await receive(request.stream(), dest, limit=limit, declared=declared, sha256=sha256)
    except ClientDisconnect:
        raise UploadRefused(400, f"truncated upload: the connection closed before the {what} was whole") from None


@api.put("/artifacts/{attempt_id}/{name}", response_model=UploadOut, status_code=201, responses=REFUSED, openapi_extra=BODY,
         summary="Upload the GPKG an attempt built (the drone's own attempts only, while in flight)")
async def artifact(ctx: Ctx, attempt_id: str, name: str, request: Request, sha256: Sha256, drone: Drone) -> UploadOut:
    try:
        check_artifact(attempt_id, name, sha256)
        await authorize(ctx, drone, attempt_id)
        size, digest = await store(request, ctx.config.uploads_dir / attempt_id / name, ctx.config.limits.artifact_bytes, sha256,
                                   "artifact")
    except UploadRefused as exc:
        request.app.state.uploads.refused(exc.status)
        raise HTTPException(exc.status, str(exc)) from None
    request.app.state.uploads.accepted("artifact", size)
    return UploadOut(attempt=attempt_id, name=name, size=size, sha256=digest)


@api.put("/logs/{attempt_id}", response_model=UploadOut, status_code=201, responses=REFUSED, openapi_extra=BODY,
         summary="Upload the full build log of an attempt")
async def build_log(ctx: Ctx, attempt_id: str, request: Request, drone: Drone) -> UploadOut:
    try:
        check_attempt_id(attempt_id)
        await authorize(ctx, drone, attempt_id)
        size, digest = await store(request, ctx.config.logs_dir / f"{attempt_id}.log", ctx.config.limits.log_bytes, None, "log")
    except UploadRefused as exc:
        request.app.state.uploads.refused(exc.status)
        raise HTTPException(exc.status, str(exc)) from None
    request.app.state.uploads.accepted("log", size)
    return UploadOut(attempt=attempt_id, name=f"{attempt_id}.log", size=size, sha256=digest)


@api.post("/drones/{name}/heartbeat", response_model=Accepted, status_code=202, responses=REFUSED,
          summary="A drone's hello/heartbeat over HTTP (its own name only)")
def heartbeat(ctx: Ctx, name: str, body: HeartbeatIn, drone: Drone) -> Accepted:
    if name != drone:
        raise HTTPException(403, f"this token belongs to {drone}, not to {name[:128]}")
    ctx.messenger.hello(DroneIdentity(name=name, **body.model_dump()))
    return Accepted(accepted=True)


@api.get("/drones/{name}/token", response_model=TokenOut, responses=errors(401, 403),
         summary="Whether the token sent is drone NAME's (`build-swarm drone --check`); changes nothing")
def token(name: str, drone: Drone) -> TokenOut:
    if name != drone:
        raise HTTPException(403, f"this token belongs to {drone}, not to {name[:128]}")
    return TokenOut(drone=drone)


@api.get("/build-configs/{config_hash}", response_model=BuildConfigOut, responses=errors(400, 404),
         summary="The portage configuration a build was planned with, by the hash its build request carries (drones)")
def build_config(ctx: Ctx, config_hash: str, drone: Drone) -> BuildConfigOut:
    if ctx.config.build_configs_dir is None:
        raise HTTPException(404, "this coordinator publishes no build configurations")
    try:
        found = BuildConfigFiles(ctx.config.build_configs_dir).read(config_hash)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if found is None:
        raise HTTPException(404, f"no build configuration {config_hash}: no session of this coordinator was planned with it")
    return BuildConfigOut(arch=found.arch, gentoo_profile=found.gentoo_profile, repos=list(found.repos), files=list(found.files))
