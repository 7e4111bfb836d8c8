"""The coordinator's own timings: how long each batch of drones' reports takes, kept where /metrics can read them.

The coordinator worker and the API are different processes (often on one host, not always),
and the record is what both read: each batch's seconds go into a histogram in memory, which
is saved as a swarm flag (``timings.<kind>``) at most every ``save_every`` seconds, and when the worker stops. It starts
from what was saved, so its counters keep counting across restarts of the coordinator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from swarm_celery.domain.histogram import LATENCY_SECONDS, Histogram, timings_flag
from swarm_celery.ports import Clock
from swarm_celery.ports.store import Flags

SAVE_EVERY = 1.0


class BatchTimings:
    def __init__(self, flags: Flags, clock: Clock, save_every: float = SAVE_EVERY) -> None:
        self.flags = flags
        self.clock = clock
        self.save_every = save_every
        self._kept: dict[str, Histogram] = {}
        self._saved_at = 0.0

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Time the block as one batch of ``kind`` (counted whether it succeeds or raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(kind, time.perf_counter() - started)

    def observe(self, kind: str, seconds: float) -> None:
        hist = self._kept.get(kind)
        if hist is None:
            hist = self._kept[kind] = Histogram.from_json(self.flags.get_flag(timings_flag(kind)), LATENCY_SECONDS)
        hist.observe(seconds)
        now = self.clock.now()
        if now - self._saved_at >= self.save_every:
            self.save()
            self._saved_at = now

    def save(self) -> None:
        for kind, hist in self._kept.items():
            self.flags.set_flag(timings_flag(kind), hist.to_json())
