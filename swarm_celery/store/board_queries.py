"""The live views' reads: the dashboard's overview, timeline and plan, `monitor`, and the record's side of /metrics.

A mixin of :class:`swarm_celery.store.queries.Queries` (it brings ``engine``, ``clock``,
``offline_after``, ``session``, ``running`` and ``fleet``). Each view is a few aggregate
queries, whatever the size of the plan: the overview of a 20,000-package session reads no
package row one by one (benchmarks/dashboard.py holds it to 100 ms at the 95th percentile).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, case, func, literal_column, select
from sqlalchemy.orm import Session

from swarm_celery.domain.board import Overview, PlanRow, RecordMetrics, SessionProgress
from swarm_celery.domain.controls import PAUSED_FLAG
from swarm_celery.domain.histogram import BATCH_KINDS, BUILD_SECONDS, LATENCY_SECONDS, Histogram, timings_flag
from swarm_celery.domain.model import IN_FLIGHT_STATES, TERMINAL_STATES, PackageState
from swarm_celery.domain.progress import Remaining, done, eta, remaining_critical_path
from swarm_celery.domain.scheduling import MIN_PACE_SAMPLES, history_key, swarm_pace
from swarm_celery.domain.views import AttemptView, DroneView, RunningBuild, SessionView
from swarm_celery.store.models import AttemptRow, DroneRow, EventRow, FlagRow, PackageRow, SessionRow

PACE_SAMPLES = 100  # a session's most recent builds its pace is taken from
PACE_TTL = 10.0  # seconds a session's learned pace is reused
FINAL = [s.value for s in TERMINAL_STATES]
STAGES = ("ready", "waiting", "building", "blocked", "done")
BLOCKED = [PackageState.BLOCKED.value, PackageState.FAILED.value, PackageState.SKIPPED.value, PackageState.CANCELLED.value]


class BoardQueries:
    engine: Engine
    clock: Callable[[], float]
    offline_after: float
    session: Callable[[str], SessionView | None]
    sessions: Callable[[int], list[SessionView]]
    running: Callable[[str], list[RunningBuild]]
    fleet: Callable[[], list[DroneView]]
    history_rows: Callable[[Any], list[AttemptView]]
    sessions_ranked: Callable[[Any, int], list[tuple[SessionView, dict[str, float]]]]
    _paces: dict[str, tuple[float, float]]  # session → (when learned, pace): the dashboard asks every 2 s, pace moves slowly

    def session_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Sessions whose id starts with ``prefix``, newest first (what a user may type instead of the whole id)."""
        query = select(SessionRow.id).where(SessionRow.id.startswith(prefix, autoescape=True))
        with Session(self.engine) as db:
            return list(db.scalars(query.order_by(SessionRow.created_at.desc()).limit(limit)))

    def swarm_paused(self) -> bool:
        with Session(self.engine) as db:
            return bool(db.scalar(select(FlagRow.value).where(FlagRow.name == PAUSED_FLAG)))

    def overview(self, limit: int = 10) -> Overview:
        drones: dict[str, int] = {}
        now = self.clock()
        for d in self.fleet():
            state = "grounded" if d.grounded_until and d.grounded_until > now else "paused" if d.paused and d.state == "online" else d.state
            drones[state] = drones.get(state, 0) + 1
        sessions = tuple(self._progress(s, ranks, now) for s, ranks in self.sessions_ranked(None, limit))
        return Overview(now, self.swarm_paused(), sessions, drones)

    def progress(self, session_id: str) -> SessionProgress | None:
        found = self.sessions_ranked(SessionRow.id == session_id, 1)
        return self._progress(*found[0], self.clock()) if found else None

    def _progress(self, info: SessionView, ranks: dict[str, float], now: float) -> SessionProgress:
        """``ranks``: the longest remaining critical path of the session's packages in each state."""
        if info.state != "running":
            return SessionProgress(info, done(info.counts), None, 1.0)
        running = tuple(self.running(info.session))
        pace = self._pace(info.session, now)
        longest = max((r for state, r in ranks.items() if state not in FINAL and state != PackageState.BUILDING.value), default=0.0)
        with Session(self.engine) as db:
            building = dict(db.execute(select(PackageRow.cpv, PackageRow.rank).where(
                PackageRow.session_id == info.session, PackageRow.state == PackageState.BUILDING.value)).all())
        remaining = [Remaining(longest, 0.0), *(Remaining(building.get(r.cpv, r.expected), r.expected, r.started_at) for r in running)]
        return SessionProgress(info, done(info.counts), eta(info.state, info.counts, remaining_critical_path(remaining, now, pace)),
                               pace, running)

    def _pace(self, session_id: str, now: float) -> float:
        learned = self._paces.get(session_id)
        if learned is None or now - learned[0] > PACE_TTL:
            with Session(self.engine) as db:
                learned = self._paces[session_id] = (now, swarm_pace(self._pace_samples(db, session_id)))
        return learned[1]

    @staticmethod
    def _pace_samples(db: Session, session_id: str) -> list[tuple[float, float]]:
        """(wall, expected) seconds of the session's newest builds; too few yet (it just started): the swarm's newest."""
        query = (select(AttemptRow.finished_at - AttemptRow.started_at, AttemptRow.expected)
                 .where(AttemptRow.outcome == "success", AttemptRow.started_at.is_not(None))
                 .order_by(AttemptRow.finished_at.desc()).limit(PACE_SAMPLES))
        found = [(float(w), float(e)) for w, e in db.execute(query.where(AttemptRow.session_id == session_id)) if w is not None and e]
        if len(found) < MIN_PACE_SAMPLES:
            found = [(float(w), float(e)) for w, e in db.execute(query) if w is not None and e]
        return found

    def timeline(self, session_id: str, since: float = 0.0) -> list[AttemptView]:
        """A session's attempts that were in flight at or after ``since`` (its Gantt chart), in dispatch order."""
        where: list[Any] = [AttemptRow.session_id == session_id]
        if since:
            where.append((AttemptRow.finished_at.is_(None)) | (AttemptRow.finished_at >= since))
        return self.history_rows(where)

    def plan(self, session_id: str, stage: str = "", contains: str = "", limit: int = 0) -> list[PlanRow]:
        """A session's packages at ``stage`` (all when ""), whose CPV contains ``contains``: the longest remaining critical path first."""
        query = (select(PackageRow.cpv, PackageRow.state, PackageRow.pending, PackageRow.rank, PackageRow.expected, PackageRow.reason)
                 .where(PackageRow.session_id == session_id).order_by(PackageRow.rank.desc(), PackageRow.merge_index))
        if stage:
            query = query.where(_in_stage(stage))
        if contains:
            query = query.where(PackageRow.cpv.contains(contains, autoescape=True))
        with Session(self.engine) as db:
            rows = db.execute(query.limit(limit) if limit else query).all()
        return [PlanRow(cpv, state, _stage(state, pending), pending, rank, expected, reason or "")
                for cpv, state, pending, rank, expected, reason in rows]

    def plan_stages(self, session_id: str) -> dict[str, int]:
        """How many packages of a session are at each stage (ready, waiting, building, blocked, done)."""
        query = (select(PackageRow.state, PackageRow.pending > 0, func.count()).where(PackageRow.session_id == session_id)
                 .group_by(PackageRow.state, PackageRow.pending > 0))
        found = dict.fromkeys(STAGES, 0)
        with Session(self.engine) as db:
            for state, waits, count in db.execute(query):
                found[_stage(state, int(bool(waits)))] += int(count)
        return found

    def attempts_of(self, atom: str, session_id: str = "") -> list[AttemptView]:
        """Attempts at a package (``cat/pkg`` or ``cat/pkg-ver``, ``=`` allowed), newest first."""
        atom = atom.lstrip("=")
        where: list[Any] = [(PackageRow.cpv == atom) | PackageRow.cpv.startswith(f"{atom}-", autoescape=True)]
        if session_id:
            where.append(AttemptRow.session_id == session_id)
        found = self.history_rows(where)
        return sorted((a for a in found if a.cpv == atom or history_key(a.cpv) == atom), key=lambda a: a.dispatched_at or 0.0, reverse=True)

    def log_tail(self, attempt_id: str) -> str | None:
        """The end of an attempt's build log as its drone reported it (None: no such attempt)."""
        with Session(self.engine) as db:
            found = db.execute(select(AttemptRow.log_tail).where(AttemptRow.id == attempt_id)).first()
        return None if found is None else str(found[0] or "")

    def record_metrics(self) -> RecordMetrics:
        now = self.clock()
        with Session(self.engine) as db:
            flags = dict(db.execute(select(FlagRow.name, FlagRow.value).where(FlagRow.name.startswith("timings."))).all())
            return RecordMetrics(
                queue_depth=_queue_depth(db), running=_running(db), build_seconds=_build_seconds(db), failures=_failures(db),
                reclaims=_events(db, "attempt.reclaimed"), stale_reports=_events(db, "attempt.stale"),
                grounded=int(db.scalar(select(func.count()).where(DroneRow.grounded_until > now)) or 0),
                publish_latency=_publish_latency(db),
                coordinator={k: Histogram.from_json(flags.get(timings_flag(k), ""), LATENCY_SECONDS) for k in BATCH_KINDS})


def _in_stage(stage: str) -> Any:
    needed = PackageRow.state == PackageState.NEEDED.value
    return {"ready": needed & (PackageRow.pending == 0), "waiting": needed & (PackageRow.pending > 0),
            "building": PackageRow.state.in_([s.value for s in IN_FLIGHT_STATES]), "blocked": PackageRow.state.in_(BLOCKED),
            "done": PackageRow.state == PackageState.PUBLISHED.value}.get(stage, PackageRow.state == "")


def _stage(state: str, pending: int) -> str:
    if state == PackageState.NEEDED.value:
        return "waiting" if pending else "ready"
    if state in {s.value for s in IN_FLIGHT_STATES}:
        return "building"
    return "blocked" if state in BLOCKED else "done"


def _queue_depth(db: Session) -> dict[tuple[str, str], int]:
    stage = case((PackageRow.state == _const(PackageState.DISPATCHED.value), _const("dispatched")), else_=_const("ready"))
    query = (select(SessionRow.arch, stage, func.count()).join(SessionRow, SessionRow.id == PackageRow.session_id)
             .where(SessionRow.state == "running",
                    ((PackageRow.state == PackageState.NEEDED.value) & (PackageRow.pending == 0))
                    | (PackageRow.state == PackageState.DISPATCHED.value))
             .group_by(SessionRow.arch, stage))
    return {(str(arch), str(s)): int(n) for arch, s, n in db.execute(query)}


def _running(db: Session) -> dict[str, int]:
    query = select(AttemptRow.drone, func.count()).where(AttemptRow.state == "started").group_by(AttemptRow.drone)
    return {str(d): int(n) for d, n in db.execute(query) if d}


def _const(value: float | str) -> Any:
    """A constant written into the SQL text, not a bound parameter: Postgres matches a GROUP BY expression to the
    selected one by its text, and each use of a bound parameter gets a placeholder of its own (psycopg2 happens to
    inline them; a driver that binds on the server, psycopg 3 or asyncpg, would not)."""
    return literal_column(repr(float(value))) if isinstance(value, float | int) else literal_column(f"'{value}'")


def _bucket(value: Any, bounds: tuple[float, ...]) -> Any:
    return case(*((value <= _const(b), literal_column(str(i))) for i, b in enumerate(bounds)), else_=literal_column(str(len(bounds))))


def _not_negative(db: Session, value: Any) -> Any:
    """``value``, 0 when below (a drone's clock a little ahead of the coordinator's)."""
    return func.max(value, _const(0.0)) if db.get_bind().dialect.name == "sqlite" else func.greatest(value, _const(0.0))


def _histograms(db: Session, label: Any, value: Any, where: Any, bounds: tuple[float, ...]) -> dict[str, Histogram]:
    """Histograms of ``value`` per ``label`` (None: one, keyed "") computed by the database: one GROUP BY, whatever the rows."""
    value = _not_negative(db, value)
    bucket = _bucket(value, bounds)
    keys = [bucket] if label is None else [label, bucket]
    found: dict[str, Histogram] = {}
    for *name, index, count, total in db.execute(select(*keys, func.count(), func.sum(value)).where(where).group_by(*keys)):
        hist = found.setdefault(str(name[0]) if name else "", Histogram(bounds))
        hist.counts[int(index)] += int(count)
        hist.total += float(total or 0.0)
    return found


def _build_seconds(db: Session) -> dict[str, Histogram]:
    kind = case((AttemptRow.outcome == _const("success"), _const("success")), (AttemptRow.failure_kind != _const(""), AttemptRow.failure_kind),
                else_=AttemptRow.outcome)
    where = AttemptRow.outcome.is_not(None) & AttemptRow.started_at.is_not(None) & AttemptRow.finished_at.is_not(None)
    return _histograms(db, kind, AttemptRow.finished_at - AttemptRow.started_at, where, BUILD_SECONDS)


def _publish_latency(db: Session) -> Histogram:
    """Seconds from each build's end on its drone to its package in the binhost: the report's trip, the batch, verify, sign, index."""
    where = AttemptRow.published_at.is_not(None) & AttemptRow.finished_at.is_not(None)
    found = _histograms(db, None, AttemptRow.published_at - AttemptRow.finished_at, where, LATENCY_SECONDS)
    return found.get("", Histogram(LATENCY_SECONDS))


def _failures(db: Session) -> dict[str, int]:
    kind = case((AttemptRow.failure_kind != _const(""), AttemptRow.failure_kind), else_=_const("unknown"))
    query = select(kind, func.count()).where(AttemptRow.outcome == "failed").group_by(kind)
    return {str(k): int(n) for k, n in db.execute(query)}


def _events(db: Session, kind: str) -> int:
    return int(db.scalar(select(func.count()).where(EventRow.kind == kind)) or 0)
