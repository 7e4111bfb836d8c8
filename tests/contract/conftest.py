"""The store contract: one set of cases, run against the MemoryStore, SQLite and Postgres (GBP's records tests are the model).

``store`` is a fresh, empty store of each kind on a fake clock. Postgres runs in one
database per test session, emptied between tests (cheaper than one database per case);
the Postgres cases fail instead of skipping under CI, like every real-service fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from swarm_celery.domain.model import DroneIdentity, PackageState, Plan, PlannedPackage
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.memory import MemoryStore
from swarm_celery.store.models import Base
from swarm_celery.store.repository import SqlStore
from tests.conftest import temporary_database
from tests.coordinator_kit import REQUEST, FakeClock

Store = MemoryStore | SqlStore


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    with temporary_database("swarm_contract") as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore(clock)
        return
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'swarm.db'}")
        migrate(engine)
        yield SqlStore(engine, clock)
        engine.dispose()
        return
    engine = request.getfixturevalue("pg_engine")
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield SqlStore(engine, clock)


@dataclass(frozen=True)
class Ev:
    kind: str
    message: str
    session_id: str | None
    subject: str


def events(store: Store, kind: str = "") -> list[Ev]:
    """Every event recorded, oldest first."""
    if isinstance(store, MemoryStore):
        found = [Ev(e.kind, e.message, e.session_id, e.subject) for e in store.events]
    else:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, message, session_id, subject FROM events ORDER BY id")).all()
        found = [Ev(k, m, s, subject or "") for k, m, s, subject in rows]
    return [e for e in found if e.kind.startswith(kind)]


def pkg(cpv: str, build: tuple[str, ...] = (), run: tuple[str, ...] = (), slot: str = "0", sub_slot: str = "0",
        identity: str = "") -> PlannedPackage:
    return PlannedPackage(cpv, slot, sub_slot, "gentoo", ("ssl",), build, run, slot_deps=(), identity=identity or f"id-{cpv}")


# base <- lib (build) ; app needs lib (build); lib needs rt at run time; tool stands alone
PLAN = Plan(
    packages=(pkg("sys-libs/base-1"), pkg("sys-libs/rt-1"), pkg("dev-libs/lib-1", build=("sys-libs/base-1",), run=("sys-libs/rt-1",)),
              pkg("app-misc/app-1", build=("dev-libs/lib-1",)), pkg("app-misc/tool-1")),
    merge_order=("sys-libs/base-1", "sys-libs/rt-1", "dev-libs/lib-1", "app-misc/app-1", "app-misc/tool-1"),
    arch="amd64", gentoo_profile=REQUEST.gentoo_profile)
GATES = {"dev-libs/lib-1": frozenset({"sys-libs/base-1", "sys-libs/rt-1"}), "app-misc/app-1": frozenset({"dev-libs/lib-1", "sys-libs/rt-1"})}


def planned(store: Store, session_id: str = "s1", *, priority: int = 0, build_profile: str = "", plan: Plan = PLAN,
            reused: frozenset[str] = frozenset()) -> dict[str, int]:
    """A running session of PLAN; returns each package's id."""
    store.create_session(session_id, REQUEST, simulated=True, priority=priority, build_profile=build_profile)
    store.save_plan(session_id, plan, GATES, {p.cpv: 10.0 for p in plan.packages}, {p.cpv: float(i) for i, p in enumerate(plan.packages)},
                    reused=reused)
    return {p.cpv: p.id for p in store.packages_in_state(list(PackageState), session_id)}


def drone(name: str, slots: int = 2, arch: str = "amd64", **changes: Any) -> DroneIdentity:
    return DroneIdentity(name, arch, cores=slots * 4, memory_mb=8000, disk_free_mb=50000, slots=slots, **changes)

