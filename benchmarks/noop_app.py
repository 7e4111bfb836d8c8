"""The raw-Celery baseline of ``throughput.py``: a no-op task on the same broker settings as build-swarm.

Run as workers by the benchmark (with this folder on the path): ``celery -A noop_app worker -Q bench.noop``, and for
the message-pattern ceiling also one solo ``-Q bench.coord`` worker. Tasks count themselves in Redis, so the benchmark
knows when all have run without a result backend.

* ``bench.noop``: the raw baseline, one no-op task.
* ``bench.build`` → ``bench.started`` + ``bench.finished``: build-swarm's message pattern with no work at all: a drone
  task that reports its start and its end to one solo coordinator worker, which counts the completions.
"""

from __future__ import annotations

import os

import redis

from swarm_celery.app import create_app

BROKER = os.environ.get("SWARM_BENCH_BROKER", "")  # set by throughput.py from its --redis: no broker of its own
if not BROKER:
    raise SystemExit("noop_app runs under benchmarks/throughput.py, which sets SWARM_BENCH_BROKER to its --redis")
COUNTER = os.environ.get("SWARM_BENCH_COUNTER", "bench:noop:done")
COORD_QUEUE = "bench.coord"

app = create_app(BROKER, 3600)
_redis = redis.Redis.from_url(BROKER)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(i: int) -> None:
    _redis.incr(COUNTER)


@app.task(name="bench.build")  # type: ignore[untyped-decorator]
def build(i: int) -> None:
    app.send_task("bench.started", args=[i], queue=COORD_QUEUE, priority=9)
    app.send_task("bench.finished", args=[i], queue=COORD_QUEUE)


@app.task(name="bench.started")  # type: ignore[untyped-decorator]
def started(i: int) -> None:
    pass


@app.task(name="bench.finished")  # type: ignore[untyped-decorator]
def finished(i: int) -> None:
    _redis.incr(COUNTER)
