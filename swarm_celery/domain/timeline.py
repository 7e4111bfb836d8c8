"""The per-drone Gantt chart of a session's attempts: bars placed in lanes, one lane per build slot in use. Pure.

Each attempt is a bar from when its drone started it (or, not started yet, when it was
dispatched) to when it ended (or now). A drone running two builds at once gets two lanes, so
bars never overlap; the gaps show idle slots, the longest bars the long tails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from swarm_celery.domain.views import AttemptView

WIDTH = 1000.0  # the chart's width in SVG units


@dataclass(frozen=True)
class Bar:
    attempt: str
    cpv: str
    state: str  # published | failed | cancelled | stale | building | queued
    x: float
    width: float
    start: float
    end: float


@dataclass(frozen=True)
class Lane:
    drone: str
    slot: int  # 0 for the drone's first lane
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    start: float
    end: float
    lanes: tuple[Lane, ...]
    ticks: tuple[tuple[float, float], ...]  # (x, wall time) for the time axis

    @property
    def busy(self) -> dict[str, float]:
        """Each drone's share of the chart's span spent building (0..1 per slot lane, summed over its lanes)."""
        span = max(self.end - self.start, 1e-9)
        out: dict[str, float] = {}
        for lane in self.lanes:
            out[lane.drone] = out.get(lane.drone, 0.0) + sum(b.end - b.start for b in lane.bars) / span
        return out


def _state(a: AttemptView) -> str:
    if a.finished_at is None:
        return "building" if a.started_at is not None else "queued"
    if a.outcome == "success":
        return "published" if a.published_at else "built"
    return a.outcome or a.state


def _first(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def chart(attempts: Iterable[AttemptView], now: float, ticks: int = 6) -> Chart:
    spans = [(a, _first(a.started_at, a.dispatched_at, now), _first(a.finished_at, now)) for a in attempts if a.drone]
    if not spans:
        return Chart(now, now, (), ())
    start, end = min(s for _, s, _ in spans), max(e for _, _, e in spans)  # an unfinished one ends now
    scale = WIDTH / max(end - start, 1e-9)
    lanes: dict[str, list[list[Bar]]] = {}
    for a, s, e in sorted(spans, key=lambda x: x[1]):
        bar = Bar(a.attempt, a.cpv, _state(a), (s - start) * scale, max((e - s) * scale, 0.5), s, max(e, s))
        _place(lanes.setdefault(str(a.drone), []), bar)
    placed = tuple(Lane(drone, i, tuple(bars)) for drone in sorted(lanes) for i, bars in enumerate(lanes[drone]))
    step = (end - start) / max(ticks, 1)
    return Chart(start, end, placed, tuple(((i * step) * scale, start + i * step) for i in range(ticks + 1)))


def _place(rows: list[list[Bar]], bar: Bar) -> None:
    """Into the first lane whose last bar ended before this one starts (a new lane when none has)."""
    for row in rows:
        if row[-1].end <= bar.start + 1e-9:
            row.append(bar)
            return
    rows.append([bar])

