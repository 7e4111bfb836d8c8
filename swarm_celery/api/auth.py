"""Who is asking: the admin token, a drone's token, or anyone (public status when configured).

The context is the app's (``app.state.ctx``, set by :func:`swarm_celery.api.app.create_api`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from swarm_celery.api.context import ApiContext

bearer = HTTPBearer(auto_error=False, description="The admin token (SWARM_API_TOKEN) or a drone's token (`build-swarm token issue`).")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers=CHALLENGE)


def admin(ctx: Ctx, credentials: Credentials) -> None:
    if not ctx.config.admin_token:
        raise unauthorized("no admin token is configured on the coordinator: set SWARM_API_TOKEN and restart it")
    if credentials is None or not ctx.config.is_admin(credentials.credentials):
        raise unauthorized("this needs the admin token: send `Authorization: Bearer $SWARM_API_TOKEN`")


def reader(ctx: Ctx, credentials: Credentials) -> None:
    """Reads need the admin token unless the coordinator was started with public status."""
    if ctx.config.public_status:
        return
    if credentials is None or not ctx.config.is_admin(credentials.credentials):
        raise unauthorized("reading needs the admin token (or start the coordinator with SWARM_PUBLIC_STATUS=1)")


def drone(ctx: Ctx, credentials: Credentials) -> str:
    """The drone a token belongs to; 401 for anything else (the admin token uploads nothing)."""
    name = ctx.tokens.drone_for(credentials.credentials) if credentials is not None else None
    if name is None:
        raise unauthorized("this needs a drone token: `build-swarm token issue DRONE` on the coordinator, "
                           "then SWARM_DRONE_TOKEN in the drone's drone.conf")
    return name


Drone = Annotated[str, Depends(drone)]
