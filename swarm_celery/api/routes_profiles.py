"""Build profiles and tree snapshots: read them (reader), sync a profile (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from swarm_celery.api import auth
from swarm_celery.api.auth import Ctx
from swarm_celery.api.models import SyncOut, errors
from swarm_celery.domain.profiles import NAME, BuildProfile
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.errors import BrokerError, NotFoundError, UserError
from swarm_celery.services.profiles import ProfileBusy

ProfileName = Annotated[str, Path(pattern=NAME.pattern, description="A build profile (see /api/v1/profiles).")]
reads = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.reader)], responses=errors(401))
admin = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.admin)], responses=errors(401))


@reads.get("/profiles", response_model=list[BuildProfile], summary="Build profiles")
def profiles(ctx: Ctx) -> list[BuildProfile]:
    return ctx.store.list_profiles()


@reads.get("/profiles/{name}", response_model=BuildProfile, responses=errors(401, 404))
def profile(ctx: Ctx, name: ProfileName) -> BuildProfile:
    found = ctx.store.get_profile(name)
    if found is None:
        raise HTTPException(404, f"no build profile named {name}; list them at /api/v1/profiles")
    return found


@reads.get("/snapshots", response_model=list[Snapshot], summary="Tree snapshots, newest first")
def snapshots(ctx: Ctx, tree: Annotated[str, Query(max_length=4096, description="Only this tree's (its path)")] = "",
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[Snapshot]:
    return ctx.store.snapshots(tree, limit)


@admin.post("/profiles/{name}/sync", response_model=SyncOut, status_code=202, responses=errors(400, 401, 404, 409, 503),
            summary="Resolve a profile now and queue what changed since it last published (all with ?full=true)")
def sync(ctx: Ctx, name: ProfileName, full: bool = False) -> SyncOut:
    try:
        done = ctx.syncer.sync(name, full=full)
    except NotFoundError:
        raise HTTPException(404, f"no build profile named {name}; list them at /api/v1/profiles") from None
    except ProfileBusy as exc:
        raise HTTPException(409, str(exc)) from None
    except UserError as exc:  # its inputs cannot be read (a machine root not mounted, a tree gone)
        raise HTTPException(400, str(exc)) from None
    except BrokerError as exc:
        raise HTTPException(503, str(exc)) from None
    return SyncOut(build_profile=done.build_profile, profile=done.build_profile, session=done.session, full=done.full)
