"""The store on both backends: migrations match the models, and a whole coordinator run works on each."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from swarm_celery.clock import SystemClock
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import SessionState
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.models import Base
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.coordinator_kit import REQUEST, FakeDispatcher, FakePublisher, FakeResolver, identity, success


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'swarm.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_migrations_match_models_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()


def test_full_coordinator_run(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    store = SqlStore(engine, SystemClock())
    dispatcher, publisher = FakeDispatcher(), FakePublisher()
    coordinator = Coordinator(store, FakeResolver(), dispatcher, publisher, prior=Durations({}), clock=SystemClock())
    store.register_drone(identity("drone-9", slots=2))
    store.create_session("s1", REQUEST, simulated=True)
    coordinator.plan("s1")
    pending = dispatcher.take()
    assert len(pending) == 2  # never more in flight than the drone has slots
    while pending:
        request = pending.pop()
        coordinator.build_started(request.attempt_id, "drone-9", "amd64", 1.0)
        coordinator.build_finished(success(request, "drone-9"))
        pending += dispatcher.take()
    session = store.get_session("s1")
    assert session is not None and session.state is SessionState.COMPLETE
    queries = Queries(engine)
    assert queries.session("s1").counts["published"] == 5  # type: ignore[union-attr]
    history = queries.history("s1")
    assert len(history) == 5 and all(h.drone == "drone-9" and h.outcome == "success" for h in history)
    assert queries.fleet()[0].builds == 5 and queries.fleet()[0].slots == 2
    engine.dispose()


def test_control_and_explain_queries(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    store = SqlStore(engine, SystemClock())
    coordinator = Coordinator(store, FakeResolver(), FakeDispatcher(), FakePublisher(), prior=Durations({}), clock=SystemClock())
    store.create_session("s1", REQUEST, simulated=True)
    coordinator.plan("s1")
    assert [p.cpv for p in store.find_packages("dev-libs/lib")] == ["dev-libs/lib-1"]
    assert store.find_packages("=dev-libs/lib-2") == []
    assert store.arches() == ["amd64"]
    assert store.set_flag("paused", "1") and not store.set_flag("paused", "1")
    assert store.package_states("s1")["app-misc/app-1"] == "needed"
    engine.dispose()


def test_duplicate_package_in_session_is_refused_by_the_database(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from swarm_celery.domain.model import Plan

    engine = make_engine(database_url)
    migrate(engine)
    store = SqlStore(engine, SystemClock())
    store.create_session("s1", REQUEST, simulated=True)
    plan = FakeResolver().plan
    doubled = Plan(packages=plan.packages + plan.packages[:1], merge_order=plan.merge_order)
    with pytest.raises(IntegrityError):
        store.save_plan("s1", doubled, {}, {}, {})
    assert Queries(engine).packages("s1") == []  # nothing half-written
    engine.dispose()


def test_upgrading_a_record_with_sessions_keeps_every_package(database_url: str) -> None:
    """Renaming a column of `sessions` must not copy the table: dropping the old one would cascade to its packages."""
    from alembic import command
    from sqlalchemy import text

    from swarm_celery.store.engine import alembic_config

    engine = make_engine(database_url)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
    with engine.begin() as db:
        db.execute(text("INSERT INTO sessions (id, state, arch, profile, request_json, config_hash, simulated, priority, error, "
                        "created_at) VALUES ('s1', 'running', 'amd64', 'default/linux/amd64/23.0', '{}', '', true, 0, '', 1.0)"))
        db.execute(text("INSERT INTO packages (session_id, cpv, slot, sub_slot, repo, use, merge_index, state, reason) "
                        "VALUES ('s1', 'app-misc/a-1', '0', '0', 'gentoo', '', 0, 'needed', '')"))
    migrate(engine)
    store = SqlStore(engine, SystemClock())
    session = store.get_session("s1")
    assert session is not None and session.gentoo_profile == "default/linux/amd64/23.0"
    assert [p.cpv for p in store.find_packages("app-misc/a", "s1")] == ["app-misc/a-1"]
    engine.dispose()


def test_a_plan_saved_in_bulk_reads_back_exactly(database_url: str) -> None:
    """Packages, edges and gates go to the driver in bulk (COPY on Postgres): text survives quoting, "" stays "" (not NULL)."""
    from sqlalchemy import text

    from swarm_celery.domain.model import DroppedEdge, EdgeKind, Plan, PlannedPackage

    awkward = 'a "quoted", comma\nnew line \\ backslash, tab\t, ünïcode'
    plan = Plan(packages=(PlannedPackage("sys-libs/base-1", "0", "1.2", "gentoo", ("ssl", "-x"), slot_deps=("dev-libs/a:0/1",)),
                          PlannedPackage("dev-libs/lib-1", "2", "", "my,repo", (), build_deps=("sys-libs/base-1",),
                                         run_deps=("sys-libs/base-1",), identity="id-lib")),
                merge_order=("sys-libs/base-1", "dev-libs/lib-1"),
                dropped_edges=(DroppedEdge("sys-libs/base-1", "dev-libs/lib-1", EdgeKind.POST, awkward),))
    engine = make_engine(database_url)
    migrate(engine)
    store = SqlStore(engine, SystemClock())
    store.create_session("s1", REQUEST, simulated=True)
    store.save_plan("s1", plan, {"dev-libs/lib-1": frozenset({"sys-libs/base-1"})}, {"sys-libs/base-1": 1.5}, {"dev-libs/lib-1": 2.25},
                    {"dev-libs/lib-1": awkward})
    with engine.connect() as conn:
        packages = conn.execute(text("SELECT cpv, slot, sub_slot, repo, use, merge_index, state, reason, change, pending, expected, "
                                     "rank, identity, slot_deps FROM packages ORDER BY merge_index")).all()
        edges = conn.execute(text("SELECT p.cpv, c.cpv, e.kind, e.dropped, e.reason FROM edges e JOIN packages p ON p.id = e.parent_id "
                                  "JOIN packages c ON c.id = e.child_id ORDER BY e.kind, e.dropped")).all()
        gates = conn.execute(text("SELECT p.cpv, r.cpv FROM gates g JOIN packages p ON p.id = g.package_id "
                                  "JOIN packages r ON r.id = g.requires_id")).all()
    assert [tuple(row) for row in packages] == [
        ("sys-libs/base-1", "0", "1.2", "gentoo", "ssl -x", 0, "needed", "", "", 0, 1.5, 0.0, "", "dev-libs/a:0/1"),
        ("dev-libs/lib-1", "2", "", "my,repo", "", 1, "needed", "", awkward, 1, 0.0, 2.25, "id-lib", ""),
    ]
    assert [tuple(row) for row in edges] == [("dev-libs/lib-1", "sys-libs/base-1", "build", False, ""),
                                             ("sys-libs/base-1", "dev-libs/lib-1", "post", True, awkward),
                                             ("dev-libs/lib-1", "sys-libs/base-1", "run", False, "")]
    assert [tuple(row) for row in gates] == [("dev-libs/lib-1", "sys-libs/base-1")]
    engine.dispose()
