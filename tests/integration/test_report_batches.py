"""Report batches through a real Celery worker on real Redis: batched, acknowledged once taken, never lost.

The worker is Celery's embedded test worker (solo pool, the coordinator's setup) with a
prefetch of twice the batch size; the task is a :class:`ReportBatch` like
``swarm.build_finished``, recording what it is handed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from swarm_celery.app import create_app
from swarm_celery.tasks.batches import REPORT_BATCH, Report, ReportBatch

pytestmark = pytest.mark.slow

BATCH_DB = 9
QUEUE = "test.reports"


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    url = redis_url.rsplit("/", 1)[0] + f"/{BATCH_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def run_batches(broker: str, messages: list[list[object]], fail_first: int, poison: object = None) -> tuple[list[list[Report]], redis.Redis]:
    """Send ``messages`` to a ReportBatch task, then run a worker until every one was taken; returns the batches taken.

    The task raises on its first ``fail_first`` calls, and on every call whose batch holds a report with ``poison``.
    """
    app = create_app(broker, 3600)
    app.conf.worker_prefetch_multiplier = 2 * REPORT_BATCH
    taken: list[list[Report]] = []
    failures = [fail_first]
    lock = threading.Lock()

    @app.task(name="test.report", base=ReportBatch, shared=False)  # type: ignore[untyped-decorator]
    def report(reports: list[Report]) -> None:
        with lock:
            if failures[0] > 0:
                failures[0] -= 1
                raise RuntimeError("the database is down")
            if any(r.args[0] == poison for r in reports):
                raise RuntimeError("a report the service cannot take")
            taken.append(reports)

    for args in messages:
        app.send_task("test.report", args=args, queue=QUEUE)
    app.conf.task_default_queue = QUEUE
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[QUEUE], shutdown_timeout=30):
        wait(lambda: sum(len(b) for b in taken) >= len(messages) - (poison is not None), 30)
        time.sleep(0.3)  # acknowledgements go out on the event loop after the batch
    return taken, redis.Redis.from_url(broker)


def wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.02)


def test_reports_arrive_in_batches_and_are_acknowledged_once_taken(broker: str) -> None:
    messages: list[list[object]] = [[i, f"drone-{i % 3}"] for i in range(150)]
    taken, client = run_batches(broker, messages, fail_first=0)
    got = sorted(r.args[0] for batch in taken for r in batch)
    assert got == list(range(150))  # each exactly once
    assert max(len(b) for b in taken) > 1 and all(len(b) <= REPORT_BATCH for b in taken)
    assert all(r.task_id for batch in taken for r in batch)
    assert client.llen(QUEUE) == 0 and client.hlen("unacked") == 0  # nothing left queued or unacknowledged


def test_a_failed_batch_goes_back_to_the_queue_and_nothing_is_lost(broker: str) -> None:
    messages: list[list[object]] = [[i] for i in range(40)]
    taken, client = run_batches(broker, messages, fail_first=2)  # the first two batches raise
    got = sorted(r.args[0] for batch in taken for r in batch)
    assert got == list(range(40))  # every report taken once it could be; none acknowledged while failing
    assert client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


def test_a_poison_report_holds_back_only_itself(broker: str) -> None:
    messages: list[list[object]] = [[i] for i in range(40)]
    taken, client = run_batches(broker, messages, fail_first=0, poison=7)
    got = sorted(r.args[0] for batch in taken for r in batch)
    assert got == [i for i in range(40) if i != 7]  # every other report taken, once
    wait(lambda: client.llen(QUEUE) + client.hlen("unacked") == 1, 10)  # the poison one is still there, not lost


def test_a_batch_is_acknowledged_in_one_round_trip(broker: str) -> None:
    client = redis.Redis.from_url(broker)
    client.config_resetstat()
    messages: list[list[object]] = [[i] for i in range(120)]
    taken, client = run_batches(broker, messages, fail_first=0)
    removals = int(client.info("commandstats").get("cmdstat_zrem", {}).get("calls", 0))
    exchanges = int(client.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))
    assert removals == 120  # every message left the unacknowledged index ...
    assert exchanges <= 120 + len(taken) + 10  # ... with one pipeline per batch (kombu: one more per message), not per report
    assert max(len(b) for b in taken) > 10 and client.hlen("unacked") == 0
