"""Binhost generations: list and compare them (reader); make, publish, roll back, keep, tag, purge, collect (admin).

The same use cases as `build-swarm binhost generations|create|publish|...` (services.generations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from swarm_celery.api import auth
from swarm_celery.api.auth import Ctx
from swarm_celery.api.models import errors
from swarm_celery.domain.disk_budget import parse_size
from swarm_celery.domain.generations import ARCH_NAME, TAG_NAME, GenerationRef
from swarm_celery.domain.profiles import NAME
from swarm_celery.errors import NotFoundError, UserError
from swarm_celery.services.generations import Generations

T = TypeVar("T")
Profile = Annotated[str, Path(pattern=NAME.pattern, description="A build profile.")]
Arch = Annotated[str, Path(pattern=f"^{ARCH_NAME.pattern}$", description="An arch (amd64, arm64).")]
Number = Annotated[int, Path(ge=1, lt=10**9, description="The generation's number (PROFILE/ARCH/N).")]
reads = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.reader)], responses=errors(401))
admin = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.admin)], responses=errors(401))


class CreateIn(BaseModel):
    session: str = Field(pattern=r"^[0-9a-f]{6,32}$", description="A complete session: its world becomes the generation.")
    profile: str = Field("", pattern=f"^$|{NAME.pattern}", description="The build profile (default: the session's).")
    publish: bool | None = Field(None, description="Publish it at once (default: when every package was published).")


class TagIn(BaseModel):
    name: str = Field(pattern=f"^{TAG_NAME.pattern}$")
    remove: bool = False


class PurgeIn(BaseModel):
    keep_last: int = Field(5, ge=0, le=10000)
    profile: str = Field("", pattern=f"^$|{NAME.pattern}")
    arch: str = Field("", pattern=f"^$|^{ARCH_NAME.pattern}$")
    dry_run: bool = False
    buckets: bool = Field(False, description="Also keep the newest of each of the last 7 days, 4 weeks and 12 months.")
    budget: str = Field("", max_length=32, description="Then fit the binhost into this much disk (20G, 500M; \"\" = no budget): "
                        "the oldest generations neither published, kept nor tagged go, and superseded staging builds.")


def service(ctx: Ctx) -> Generations:
    if ctx.generations is None:
        raise HTTPException(503, "this API serves no binhost generations (it was started without them)")
    return ctx.generations


def call(work: Callable[[], T]) -> T:
    """The use case's answer, its user errors as 404/400 with their one line."""
    try:
        return work()
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (UserError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None


@reads.get("/generations", summary="Binhost generations, which one each profile's clients are served, tags and keeps")
def generations(ctx: Ctx, profile: Annotated[str, Query(pattern=f"^$|{NAME.pattern}")] = "",
                arch: Annotated[str, Query(pattern=f"^$|^{ARCH_NAME.pattern}$")] = "") -> list[dict[str, Any]]:
    return [v.to_json() for v in service(ctx).views(profile, arch)]


@reads.get("/generations/diff", responses=errors(400, 401, 404), summary="What a client moving from one generation to another gets")
def diff(ctx: Ctx, old: Annotated[str, Query(max_length=128)], new: Annotated[str, Query(max_length=128)]) -> dict[str, Any]:
    found = call(lambda: service(ctx).diff(GenerationRef.parse(old), GenerationRef.parse(new)))
    return {"added": list(found.added), "removed": list(found.removed), "same": found.same,
            "changed": [{"key": c.key, "old": c.old, "new": c.new, "reasons": list(c.reasons)} for c in found.changed]}


@admin.post("/generations", status_code=201, responses=errors(400, 401, 404), summary="Make a generation of a complete session")
def create(ctx: Ctx, body: CreateIn) -> dict[str, Any]:
    return call(lambda: service(ctx).for_session(body.session, body.profile, body.publish)).to_json()


@admin.post("/generations/{profile}/{arch}/{number}/publish", responses=errors(400, 401, 404),
            summary="Serve this generation to the profile's clients (one atomic switch)")
def publish(ctx: Ctx, profile: Profile, arch: Arch, number: Number) -> dict[str, Any]:
    return call(lambda: service(ctx).publish(GenerationRef(profile, arch, number))).to_json()


@admin.post("/generations/{profile}/{arch}/rollback", responses=errors(400, 401, 404),
            summary="Serve the generation published before the current one again")
def rollback(ctx: Ctx, profile: Profile, arch: Arch) -> dict[str, Any]:
    return call(lambda: service(ctx).rollback(profile, arch)).to_json()


@admin.post("/generations/{profile}/{arch}/{number}/keep", responses=errors(400, 401, 404), summary="Never purge it")
def keep(ctx: Ctx, profile: Profile, arch: Arch, number: Number) -> dict[str, Any]:
    return call(lambda: service(ctx).keep(GenerationRef(profile, arch, number), True)).to_json()


@admin.post("/generations/{profile}/{arch}/{number}/release", responses=errors(400, 401, 404), summary="Stop keeping it")
def release(ctx: Ctx, profile: Profile, arch: Arch, number: Number) -> dict[str, Any]:
    return call(lambda: service(ctx).keep(GenerationRef(profile, arch, number), False)).to_json()


@admin.post("/generations/{profile}/{arch}/{number}/tags", responses=errors(400, 401, 404), summary="Tag it (or remove a tag)")
def tag(ctx: Ctx, profile: Profile, arch: Arch, number: Number, body: TagIn) -> dict[str, Any]:
    return call(lambda: service(ctx).tag(GenerationRef(profile, arch, number), body.name, body.remove)).to_json()


@admin.post("/generations/purge", responses=errors(400, 401),
            summary="Remove generations no rule protects (the newest keep_last, tagged, kept, published stay)")
def purge(ctx: Ctx, body: PurgeIn) -> dict[str, Any]:
    budget = call(lambda: parse_size(body.budget)) if body.budget.strip() else None
    done = call(lambda: service(ctx).purge(body.keep_last, body.profile, body.arch, body.dry_run, body.buckets, budget))
    return done.to_json()


@admin.post("/binhost/gc", responses=errors(401), summary="Remove staging GPKGs no index names and leftovers of interrupted steps")
def gc(ctx: Ctx, dry_run: bool = False) -> dict[str, Any]:
    return {"removed": service(ctx).gc(["amd64", "arm64"], dry_run), "dry_run": dry_run}
