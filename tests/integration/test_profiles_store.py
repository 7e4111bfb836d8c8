"""Build profiles and snapshots in the store, on SQLite and Postgres; what a profile published, by identity."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.domain.model import PlannedPackage
from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.coordinator_kit import PLAN, REQUEST, FakeClock

DESK = BuildProfile("desk", Mode.DISTRIBUTION, "amd64", REQUEST.gentoo_profile, ("/repo",), world=("app-misc/app",))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path / 'swarm.db'}" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
    engine = make_engine(url)
    migrate(engine)
    yield SqlStore(engine, FakeClock())
    engine.dispose()


def test_profiles_are_created_once_changed_listed_and_deleted(store: SqlStore) -> None:
    assert store.save_profile(DESK, create=True)
    assert not store.save_profile(DESK, create=True)  # exists
    assert not store.save_profile(replace(DESK, name="nope"), create=False)  # nothing to change
    server = replace(DESK, name="server", auto_rebuild=True)
    store.save_profile(server, create=True)
    assert store.save_profile(replace(DESK, world=("app-misc/app", "app-misc/tool")), create=False)
    assert store.get_profile("desk") == replace(DESK, world=("app-misc/app", "app-misc/tool"))
    assert [p.name for p in store.list_profiles()] == ["desk", "server"]
    assert store.list_profiles(auto_rebuild_only=True) == [server]
    assert store.delete_profile("desk") and not store.delete_profile("desk")
    assert store.get_profile("desk") is None
    kinds = [e.kind for e in Queries(store.engine).events(None)]
    assert kinds == ["profile.created", "profile.created", "profile.changed", "profile.deleted"]


def test_the_published_plan_is_the_latest_published_package_of_each_key(store: SqlStore) -> None:
    def publish_all(session: str, identity: str) -> None:
        store.create_session(session, REQUEST, simulated=True, build_profile="desk", reuse=True)
        plan = replace(PLAN, packages=tuple(replace(p, identity=f"{identity}-{p.cpv}", slot_deps=("dev-libs/lib:0/1",))
                                            for p in PLAN.packages))
        store.save_plan(session, plan, {}, {}, {}, reused=frozenset(p.cpv for p in plan.packages))  # all published at once

    assert store.published_plan("desk").packages == ()
    publish_all("s1", "old")
    store.clock.t += 10  # type: ignore[attr-defined]
    publish_all("s2", "new")
    store.create_session("s3", REQUEST, simulated=True, build_profile="desk")  # planned, nothing published: not counted
    store.save_plan("s3", replace(PLAN, packages=tuple(replace(p, identity="planned") for p in PLAN.packages)), {}, {}, {})
    published = store.published_plan("desk")
    assert {p.identity for p in published.packages} == {f"new-{p.cpv}" for p in PLAN.packages}
    assert all(isinstance(p, PlannedPackage) and p.slot_deps == ("dev-libs/lib:0/1",) for p in published.packages)
    assert (published.arch, published.gentoo_profile) == ("amd64", REQUEST.gentoo_profile)
    assert store.published_plan("server").packages == ()


def test_snapshots_are_listed_newest_first_per_tree_and_forgotten(store: SqlStore) -> None:
    snaps = [Snapshot(f"s{i}", float(i), tree, "fp", "0" * 64, f"/snap/s{i}.tar.gz", 1000 * i, i, "why")
             for i, tree in enumerate(["/repo", "/overlay", "/repo"], start=1)]
    for snap in snaps:
        store.add_snapshot(snap)
    assert [s.id for s in store.snapshots()] == ["s3", "s2", "s1"]
    assert store.snapshots("/repo") == [snaps[2], snaps[0]]
    assert store.forget_snapshots(["s1", "s9"]) == 1 and [s.id for s in store.snapshots("/repo")] == ["s3"]
    assert [e.kind for e in Queries(store.engine).events(None)] == ["tree.snapshot"] * 3
