"""The store on both backends: migrations match the models, and a whole coordinator run works on each."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from swarm_celery.clock import SystemClock
from swarm_celery.domain.model import SessionState
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.models import Base
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.coordinator_kit import REQUEST, FakeDispatcher, FakePublisher, FakeResolver, success


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
    coordinator = Coordinator(store, FakeResolver(), dispatcher, publisher)
    store.create_session("s1", REQUEST, simulated=True)
    coordinator.plan("s1")
    pending = dispatcher.take()
    while pending:
        request = pending.pop()
        coordinator.build_started(request.attempt_id, "drone-9", "amd64", 1.0)
        coordinator.build_finished(success(request, "drone-9"))
        pending += dispatcher.take()
    session = store.get_session("s1")
    assert session is not None and session.state is SessionState.COMPLETE
    queries = Queries(engine)
    assert queries.session("s1")["counts"]["published"] == 5  # type: ignore[index]
    history = queries.history("s1")
    assert len(history) == 5 and all(h["drone"] == "drone-9" and h["outcome"] == "success" for h in history)
    assert queries.fleet()[0]["builds"] == 5
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
        store.save_plan("s1", doubled, {})
    assert Queries(engine).packages("s1") == []  # nothing half-written
    engine.dispose()
