"""The broker census against real Redis: queued builds, a build in a worker's hands, reports on their way, a flush."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
from celery import Celery

from swarm_celery.app import create_app, filesystem_broker_options
from swarm_celery.domain.model import BuildRequest, BuildResult, Outcome
from swarm_celery.tasks.census import RedisCensus
from swarm_celery.tasks.messaging import CeleryBroker, CeleryReporter
from tests.conftest import app_on_redis_db

CENSUS_REDIS_DB = 12


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    with app_on_redis_db(redis_url, CENSUS_REDIS_DB) as app:
        yield cast(Celery, app)


def build(attempt_id: str, queue: str = "drone.d1") -> tuple[BuildRequest, str]:
    return BuildRequest(attempt_id, "s1", "dev-libs/foo-1", "amd64", "0", "gentoo", (), urgency=3), queue


def test_the_census_finds_queued_builds_at_every_priority_and_reports_on_their_way(app: Celery) -> None:
    queued, other_drone, started, finished = (uuid.uuid4().hex for _ in range(4))
    CeleryBroker(app).send_builds([build(queued), build(other_drone, "drone.d2")])
    reporter = CeleryReporter(app)
    reporter.started(started, "d1", "amd64", 1.0)
    reporter.finished(BuildResult(finished, "d1", Outcome.FAILED, log_tail="make: *** Error 1\n" * 200), urgency=0)
    held = RedisCensus(app).held()
    assert held == {queued, other_drone, started, finished}


def test_a_build_a_worker_took_and_has_not_acknowledged_is_held_until_it_is(app: Celery) -> None:
    attempt = uuid.uuid4().hex
    CeleryBroker(app).send_builds([build(attempt)])
    with app.connection_for_write() as connection:
        channel = connection.channel()
        message = channel.basic_get("drone.d1", no_ack=False)  # as a worker takes it with acks_late: into "unacked"
        assert message is not None
        assert redis.Redis.from_url(app.conf.broker_url).llen("drone.d1") == 0
        assert RedisCensus(app).held() == {attempt}
        message.ack()
        assert RedisCensus(app).held() == frozenset()


def test_after_a_flush_nothing_is_held_and_a_new_dispatch_is_found_again(app: Celery) -> None:
    lost, new = uuid.uuid4().hex, uuid.uuid4().hex
    CeleryBroker(app).send_builds([build(lost)])
    redis.Redis.from_url(app.conf.broker_url).flushdb()  # what a restart without persistence leaves
    assert RedisCensus(app).held() == frozenset()
    CeleryBroker(app).send_builds([build(new)])  # published without the binding keys the flush removed
    assert RedisCensus(app).held() == {new}


def test_a_transport_that_cannot_tell_says_so(tmp_path: Path) -> None:
    app = create_app("filesystem://", 3600, tmp_path / "broker")
    assert app.conf.broker_transport_options == filesystem_broker_options(tmp_path / "broker")
    assert RedisCensus(app).held() is None
    assert RedisCensus(app).epoch() == ""


def test_the_epoch_is_the_servers_run_id(app: Celery) -> None:
    run_id = redis.Redis.from_url(app.conf.broker_url).info("server")["run_id"]
    assert RedisCensus(app).epoch() == run_id and len(run_id) == 40
