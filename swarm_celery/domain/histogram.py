"""Histograms as Prometheus keeps them (bucket counts, a sum), built from the record or from timings. Pure.

The coordinator's own timings (a batch of reports, start to commit) are kept in one of these
and saved in the record now and then (``services.timings``); the API turns each into a
Prometheus histogram at scrape time, next to the ones it computes from the record's rows.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

BUILD_SECONDS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0)
LATENCY_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Histogram:
    """Counts per bucket (``counts[i]``: observations ≤ ``bounds[i]`` and above the bound before; the last: above all)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def add(self, other: Histogram) -> None:
        assert other.bounds == self.bounds
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count of observations ≤ le) as Prometheus exposes them, ending with ``+Inf``."""
        out, running = [], 0
        for bound, count in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(bound), running))
        return out

    def to_json(self) -> str:
        return json.dumps({"bounds": list(self.bounds), "counts": self.counts, "total": self.total})

    @classmethod
    def from_json(cls, text: str, bounds: tuple[float, ...]) -> Histogram:
        """The histogram saved as ``text``; an empty one when ``text`` is empty, unreadable or of other buckets."""
        try:
            data = json.loads(text) if text else {}
            if tuple(data.get("bounds", ())) == bounds and len(data["counts"]) == len(bounds) + 1:
                return cls(bounds, [int(c) for c in data["counts"]], float(data["total"]))
        except (ValueError, KeyError, TypeError):
            pass
        return cls(bounds)


def histogram_of(values: Iterable[float], bounds: tuple[float, ...]) -> Histogram:
    found = Histogram(bounds)
    for value in values:
        found.observe(value)
    return found


def bucket_of(value: float, bounds: tuple[float, ...]) -> int:
    """The index of the bucket ``value`` falls in (what a SQL CASE computes for many rows at once)."""
    return bisect_left(bounds, value)


BATCH_KINDS = ("build_started", "build_finished")  # the coordinator's batch tasks whose time per batch is kept


def timings_flag(kind: str) -> str:
    """The swarm flag the coordinator keeps its histogram of ``kind`` batches in (services.timings)."""
    return f"timings.{kind}"
