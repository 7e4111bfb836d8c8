"""The raw-Celery baseline of ``throughput.py``: a no-op task on the same broker settings as build-swarm.

Run as a worker by the benchmark: ``celery -A noop_app worker -Q bench.noop`` (with this folder on the path).
Each task counts itself in Redis, so the benchmark knows when all have run without a result backend.
"""

from __future__ import annotations

import os

import redis

from swarm_celery.app import create_app

BROKER = os.environ.get("SWARM_BENCH_BROKER", "redis://127.0.0.1:6379/8")
COUNTER = "bench:noop:done"

app = create_app(BROKER, 3600)
_redis = redis.Redis.from_url(BROKER)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(i: int) -> None:
    _redis.incr(COUNTER)
