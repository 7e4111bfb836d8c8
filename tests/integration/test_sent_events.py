"""A placement's task-sent events on real Redis: one message for all its builds, each event as Flower reads it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from celery import Celery

from swarm_celery.domain.model import BuildRequest
from swarm_celery.tasks.messaging import CeleryBroker
from tests.conftest import app_on_redis_db

EVENTS_REDIS_DB = 13


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    with app_on_redis_db(redis_url, EVENTS_REDIS_DB) as app:
        yield cast(Celery, app)


class Listening:
    """Celery's own event receiver (what Flower and `celery events` use), on a thread: every event, and every message."""

    def __init__(self, app: Celery) -> None:
        self.events: list[dict[str, Any]] = []
        self.messages = 0
        self.ready = threading.Event()
        self.receiver: Any = None
        self.app = app
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        with self.app.connection_for_read() as connection:
            self.receiver = receiver = self.app.events.Receiver(connection, handlers={"*": self.events.append})
            receive, consume_ready = receiver._receive, receiver.on_consume_ready

            def counted(body: object, message: object) -> None:
                self.messages += 1
                receive(body, message)

            def ready(*args: object, **kwargs: object) -> None:
                consume_ready(*args, **kwargs)
                self.ready.set()

            receiver._receive, receiver.on_consume_ready = counted, ready
            receiver.capture(limit=None, timeout=None, wakeup=False)

    def __enter__(self) -> Listening:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.receiver.should_stop = True
        self.thread.join(10)


def wait_for(check: Any, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        done.wait(0.05)
    raise AssertionError("timed out")


def test_a_placement_sends_its_task_sent_events_in_one_message_each_event_complete(app: Celery) -> None:
    attempts = [uuid.uuid4().hex for _ in range(5)]
    builds = [(BuildRequest(a, "s1", f"dev-libs/foo-{i}", "amd64", "0", "gentoo", ()), f"drone.d{i % 2}") for i, a in enumerate(attempts)]
    with Listening(app) as listening:
        CeleryBroker(app).send_builds(builds)
        wait_for(lambda: len(listening.events) >= len(attempts))
        CeleryBroker(app).send_builds(builds[:1])  # a placement of one: its own message
        wait_for(lambda: len(listening.events) >= len(attempts) + 1)
    sent = [e for e in listening.events if e["type"] == "task-sent"]
    assert [e["uuid"] for e in sent] == [*attempts, attempts[0]]
    assert {e["name"] for e in sent} == {"swarm.build"} and [e["queue"] for e in sent[:5]] == [q for _, q in builds]
    assert all(e["hostname"] and e["timestamp"] and "clock" in e for e in sent)
    assert listening.messages == 2  # one per placement, not one per build
    client = redis.Redis.from_url(app.conf.broker_url)
    assert client.llen("drone.d0") == 4 and client.llen("drone.d1") == 2  # the builds themselves, each its own message


def test_no_event_at_all_when_task_events_are_off(app: Celery) -> None:
    app.conf.task_send_sent_event = False
    with Listening(app) as listening:
        CeleryBroker(app).send_builds([(BuildRequest(uuid.uuid4().hex, "s1", "dev-libs/foo-1", "amd64", "0", "gentoo", ()), "drone.d0")])
        wait_for(lambda: redis.Redis.from_url(app.conf.broker_url).llen("drone.d0") == 1)
        threading.Event().wait(0.5)
    assert listening.events == [] and listening.messages == 0
