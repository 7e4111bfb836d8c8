"""The live views' aggregate queries on both backends (a GROUP BY over a CASE must match its SELECT on Postgres too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.domain.durations import Durations
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.conftest import temporary_database
from tests.coordinator_kit import REQUEST, FakeClock, FakeDispatcher, FakePublisher, FakeResolver, failure, identity, success


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swarm.db'}"
    else:
        with temporary_database("swarm_board") as found:
            yield found


def test_overview_plan_timeline_and_metrics_agree_on_both_backends(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    clock = FakeClock()
    store, dispatcher = SqlStore(engine, clock), FakeDispatcher()
    coordinator = Coordinator(store, FakeResolver(), dispatcher, FakePublisher(), prior=Durations({}), clock=clock)
    store.register_drone(identity("drone-1", slots=2))
    store.create_session("s1", REQUEST, simulated=True)
    coordinator.plan("s1")
    (first, _), (second, _) = dispatcher.sent[:2]
    coordinator.build_started(first.attempt_id, "drone-1", "amd64", clock.t)
    coordinator.build_finished(success(first))
    clock.t += 2
    coordinator.build_finished(failure(second))
    q = Queries(engine, clock=clock.now)
    metrics = q.record_metrics()
    assert metrics.build_seconds["success"].count == 1 and metrics.build_seconds["compile"].count == 1
    assert metrics.failures == {"compile": 1} and metrics.publish_latency.count == 1 and metrics.grounded == 0
    assert metrics.coordinator["build_finished"].count == 2 and sum(metrics.queue_depth.values()) >= 1
    assert sum(q.plan_stages("s1").values()) == 5 and q.plan("s1", "done")[0].state == "published"
    progress = q.overview().sessions[0]
    assert progress.done == 1 and progress.session.planned == 5 and progress.eta_seconds is not None
    assert len(q.timeline("s1")) == len(q.history("s1")) >= 2
    assert [a.cpv for a in q.attempts_of(first.cpv.rsplit("-", 1)[0])] == [first.cpv]
    engine.dispose()
