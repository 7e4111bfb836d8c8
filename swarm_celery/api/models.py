"""Request and response bodies of the coordinator API: the OpenAPI schema is generated from these."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints

from swarm_celery.domain.controls import Action

Atom = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Name = Annotated[str, StringConstraints(max_length=128, pattern=r"^[A-Za-z0-9._@-]*$")]


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong and what to do next.")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    version: str







class QueueIn(BaseModel):
    atoms: list[Atom] = Field(min_length=1, max_length=500, description="Package atoms, as in a world file.")
    arch: Literal["amd64", "arm64"] = "amd64"
    priority: int = Field(0, ge=-100, le=100)
    rebuild: bool = Field(False, description="Build every package, even those the binhost holds with the same identity.")


class QueueOut(BaseModel):
    session: str
    atoms: list[str]
    priority: int
    arch: str
    rebuild: bool = False


class ControlIn(BaseModel):
    action: Action
    atom: Annotated[str, StringConstraints(max_length=256)] = ""
    drone: Name = ""
    session: Name = ""
    wait: float = Field(10.0, ge=0.0, le=30.0, description="Seconds to wait for the coordinator's answer.")


class ControlOut(BaseModel):
    action: str
    request_id: str
    ok: bool
    outcome: str


class SqlIn(BaseModel):
    query: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    limit: int = Field(100, ge=1, le=1000)


class SqlOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class UploadOut(BaseModel):
    attempt: str
    name: str
    size: int
    sha256: str


class HeartbeatIn(BaseModel):
    arch: Literal["amd64", "arm64"]
    cores: int = Field(ge=0, le=100_000)
    memory_mb: int = Field(ge=0, le=1 << 40)
    disk_free_mb: int = Field(ge=0, le=1 << 40)
    slots: int = Field(ge=1, le=256)
    paused: bool = False
    tree_timestamp: Annotated[str, StringConstraints(max_length=64)] = ""
    gentoo_profile: Annotated[str, StringConstraints(max_length=255)] = Field("", validation_alias=AliasChoices("gentoo_profile", "profile"))
    payload_version: Annotated[str, StringConstraints(max_length=32)] = ""
    builder: Annotated[str, StringConstraints(max_length=16)] = ""
    payload_hash: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = ""


class Accepted(BaseModel):
    accepted: bool


class TokenOut(BaseModel):
    drone: str  # the drone the token belongs to


class BuildConfigOut(BaseModel):
    """A plan's portage configuration, as the drones build it (profile, repositories by name, make.conf and package.*)."""

    arch: str
    gentoo_profile: str = Field(description="Relative to the first repository's profiles/ directory.")
    repos: list[str] = Field(description="Repository names; the first is the main one.")
    files: list[tuple[str, str]] = Field(description="(name, text) of make.conf, package.use, package.accept_keywords, ...")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each an :class:`ErrorOut`."""
    return {code: {"model": ErrorOut} for code in codes}




class SyncOut(BaseModel):
    build_profile: str
    profile: str = Field(description="Deprecated alias of build_profile.", deprecated=True)
    session: str
    full: bool
