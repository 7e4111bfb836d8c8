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


class SessionOut(BaseModel):
    session: str
    state: str
    arch: str
    profile: str | None
    config_hash: str | None
    simulated: bool
    error: str | None
    priority: int
    created_at: float | None
    planned_at: float | None
    finished_at: float | None
    planned: int
    counts: dict[str, int]


class PackageOut(BaseModel):
    cpv: str
    state: str
    reason: str | None
    slot: str | None
    repo: str | None


class AttemptOut(BaseModel):
    attempt: str
    cpv: str
    drone: str | None
    state: str
    outcome: str | None
    queue: str | None
    dispatched_at: float | None
    started_at: float | None
    finished_at: float | None
    published_at: float | None
    artifact: str | None
    sha256: str | None
    error: str | None
    failure_kind: str | None
    infrastructure: bool | None
    build_seconds: float | None


class EventOut(BaseModel):
    ts: float
    kind: str
    subject: str | None
    message: str | None


class DroneOut(BaseModel):
    name: str
    arch: str
    state: str
    first_seen: float | None
    last_seen: float | None
    builds: int | None
    failures: int | None
    cores: int | None
    memory_mb: int | None
    disk_free_mb: int | None
    slots: int | None
    in_flight: int
    paused: bool | None
    grounded_until: float | None
    tree_timestamp: str
    profile: str
    payload_version: str
    builder: str


class QueueIn(BaseModel):
    atoms: list[Atom] = Field(min_length=1, max_length=500, description="Package atoms, as in a world file.")
    arch: Literal["amd64", "arm64"] = "amd64"
    priority: int = Field(0, ge=-100, le=100)


class QueueOut(BaseModel):
    session: str
    atoms: list[str]
    priority: int
    arch: str


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


class Accepted(BaseModel):
    accepted: bool


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each an :class:`ErrorOut`."""
    return {code: {"model": ErrorOut} for code in codes}


class ProfileOut(BaseModel):
    name: str
    mode: Literal["distribution", "user"]
    arch: str
    gentoo_profile: str
    repos: list[str]
    world: list[str]
    portage_config: str
    machine_root: str
    machine_host: str
    auto_rebuild: bool
    description: str


class SnapshotOut(BaseModel):
    id: str
    taken_at: float
    tree: str
    fingerprint: str
    sha256: str
    path: str
    size: int
    files: int
    reason: str


class SyncOut(BaseModel):
    build_profile: str
    profile: str = Field(description="Deprecated alias of build_profile.", deprecated=True)
    session: str
    full: bool
