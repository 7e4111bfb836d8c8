"""A finished session's schedule judged in hindsight (:mod:`swarm_celery.domain.hindsight`) from its record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from swarm_celery.domain.hindsight import Hindsight, Realized, hindsight
from swarm_celery.domain.model import Outcome
from swarm_celery.ports import RecordReader

COUNTED = (Outcome.SUCCESS.value, Outcome.FAILED.value)  # a cancelled try was the scheduler's own choice: not work it was dealt


@dataclass(frozen=True)
class Judged:
    makespan: float  # first dispatch to last publication
    bound: float  # the hindsight lower bound (0 when nothing was built)
    retried: int  # tries that failed (and were tried again, or blocked their package)
    detail: Hindsight | None


def judge(queries: RecordReader, gates: Mapping[str, frozenset[str]], session_id: str, slowdown: Mapping[str, float]) -> Judged:
    """``slowdown[drone]``: how many times longer than a speed-1 drone its builds take (1 when not named)."""
    history = queries.history(session_id)
    tries = [Realized(h.cpv, h.drone or "?", h.finished_at - h.started_at, h.outcome == Outcome.SUCCESS.value)
             for h in history if h.started_at is not None and h.finished_at is not None and h.outcome in COUNTED]
    published = [h.published_at for h in history if h.published_at]
    dispatched = [h.dispatched_at for h in history if h.dispatched_at]
    if not published or not dispatched:
        return Judged(0.0, 0.0, 0, None)
    slots = {d.name: d.slots or 1 for d in queries.fleet() if any(t.drone == d.name for t in tries)}
    detail = hindsight(gates, tries, slowdown, slots, max(published) - min(dispatched))
    return Judged(detail.makespan, detail.bound, sum(1 for t in tries if not t.succeeded), detail)


__all__ = ["Judged", "judge"]
