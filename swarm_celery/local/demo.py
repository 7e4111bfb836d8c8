"""`build-swarm demo`: the whole swarm on this machine, end to end.

Creates a session for the request, starts a broker (see :mod:`.broker`), one
coordinator worker and N simulated drone workers (:mod:`.stack`) — or, building
for real, the API and N prefix drones (:mod:`.real_demo`) — sends
``swarm.plan`` and follows the session in the database until every package is
final. A worker that dies is started again, as a service manager would; the demo
stops everything it started on Ctrl-C, or when a worker keeps dying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from swarm_celery import bootstrap
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.views import RunningBuild, SessionView
from swarm_celery.errors import SwarmError, UserError
from swarm_celery.local.broker import choose_broker
from swarm_celery.local.judge import judge
from swarm_celery.local.real_demo import start_real
from swarm_celery.local.stack import LocalStack
from swarm_celery.settings import Settings
from swarm_celery.store.queries import Queries

FINAL_SESSION_STATES = {"complete", "failed", "cancelled"}
Progress = Callable[[SessionView, list[RunningBuild]], None]


@dataclass(frozen=True)
class DemoSummary:
    """How a demo ended (`build-swarm demo --json` prints the fields up to ``binhost``)."""

    session: str
    planned: int
    published: int
    failed: int
    blocked: int
    skipped: int
    wall_seconds: float
    database_url: str
    binhost: str
    state: str
    error: str | None
    broker: str
    simulated: bool
    drones: int
    worker_restarts: int
    makespan: float = 0.0  # first dispatch to last publication (seconds)
    hindsight_bound: float = 0.0  # the shortest makespan any schedule could have reached, from what every build really took
    retried: int = 0  # tries that failed and were built again


@dataclass(frozen=True)
class DemoOptions:
    drones: int = 4
    poll: float = 0.25
    timeout: float = 0.0  # 0: no limit
    speeds: tuple[float, ...] = ()  # simulated drones' relative speeds (2: twice as fast), one per drone; (): all 1


class WorkerDied(SwarmError):
    pass


def run_demo(settings: Settings, request: ResolveRequest, options: DemoOptions, progress: Progress) -> DemoSummary:
    started = time.monotonic()
    store = bootstrap.store(settings)  # migrates the schema
    queries = Queries(store.engine)
    session_id = ""
    broker = choose_broker(settings.broker_url, settings.home)
    settings = settings.with_(broker_url=broker.url)
    stack = LocalStack(env=settings.to_env(), logs=settings.logs_dir)
    try:
        session_id = bootstrap.session_queue(settings).queue(request)
        _start_stack(stack, settings, options.drones, options.speeds)
        status = _follow(queries, stack, session_id, options, progress)
    finally:
        stack.stop()
        broker.stop()
    restarts = sum(w.restarts for w in stack.workers)
    judged = judge(queries, store.session_gates(session_id), session_id, _slowdowns(options.speeds))
    return DemoSummary(session_id, status.planned, status.counts["published"], status.counts["failed"], status.counts["blocked"],
                       status.counts["skipped"], round(time.monotonic() - started, 2), settings.database,
                       str(settings.binhost_dir / status.arch), status.state, status.error, broker.kind, status.simulated,
                       options.drones, restarts, round(judged.makespan, 2), round(judged.bound, 2), judged.retried)


def _slowdowns(speeds: tuple[float, ...]) -> dict[str, float]:
    return {drone_name(i): 1.0 / speed for i, speed in enumerate(speeds, start=1)}


def drone_name(number: int) -> str:
    return f"drone-{number}"


def _start_stack(stack: LocalStack, settings: Settings, drones: int, speeds: tuple[float, ...] = ()) -> None:
    stack.start("coordinator", "coordinator")
    stack.start("beat", "beat")  # stale-work reclaim: a drone that dies mid-run loses nothing
    if settings.builder == "emerge":
        start_real(stack, settings, drones)  # the API, then prefix drones building for real
        return
    slowdowns = _slowdowns(speeds)
    for i in range(1, drones + 1):
        name = drone_name(i)
        extra = {"SWARM_SIMULATE_SPEED": repr(slowdowns[name])} if name in slowdowns else {}
        stack.start(name, "drone", {"SWARM_DRONE_NAME": name, **extra})


def _follow(queries: Queries, stack: LocalStack, session_id: str, options: DemoOptions, progress: Progress) -> SessionView:
    deadline = time.monotonic() + options.timeout if options.timeout else None
    while True:
        status = queries.session(session_id)
        assert status is not None
        progress(status, queries.running(session_id))
        if status.state in FINAL_SESSION_STATES:
            return status
        _, hopeless = stack.revive()  # a worker that died (killed, or lost the broker) is started again
        if hopeless:
            names = ", ".join(f"{w.name} (exit {w.process.returncode}, {w.restarts} restarts, log {w.log})" for w in hopeless)
            raise WorkerDied(f"worker process keeps dying: {names}")
        if deadline is not None and time.monotonic() > deadline:
            raise UserError(f"the demo did not finish within {options.timeout:.0f} s; see `build-swarm status --session {session_id}`")
        time.sleep(options.poll)
