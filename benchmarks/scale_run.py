"""One run of the scale benchmark (benchmarks/scale.py): one backend, one plan size, every fleet size."""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from scale_kit import Broker, Clock, Meter, Publisher, fast_forward, pg_rows_read, timed_place
from scale_plan import plan_durations, synthetic_plan

import swarm_celery.services.dispatch as dispatch_module
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.domain.model import BuildRequest, BuildResult, DroneIdentity, Outcome, Plan
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import StartReport
from swarm_celery.domain.scheduling import RetryPolicy
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.repository import SqlStore

ARCH = "amd64"
SESSION = "scale"
DONE = 0.8  # "late in the plan": this much is published before the measured completions
SLOTS = 2
REQUEST = ResolveRequest(repos=("/repo",), gentoo_profile="default/linux/amd64/23.0", arch=ARCH, world=("app-misc/app",))
FAILED_TAIL = "make: *** [Makefile:12: all] Error 1\n * ERROR: compile failed"


@dataclass
class Resolver:
    plan: Plan

    def resolve(self, request: ResolveRequest, allow_missing: bool = False) -> Plan:
        return self.plan


@dataclass
class Rig:
    coordinator: Coordinator
    engine: Any
    meter: Meter
    clock: Clock
    broker: Broker
    publisher: Publisher
    postgres: bool
    placed: list[float] = field(default_factory=list)  # CPU seconds of each placement call
    place_in: dict[str, float] = field(default_factory=dict)  # placement CPU seconds inside each kind of call
    cpu_in: dict[str, float] = field(default_factory=dict)  # CPU seconds of each kind of call
    wall_in: dict[str, float] = field(default_factory=dict)  # wall seconds of each kind of call (Postgres: its server's share too)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(url: str, size: int, fleets: list[int], completions: int, batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    plan = synthetic_plan(size)
    gates = sum(len(g) for g in dispatch_gates(plan).values())
    edges = sum(len(p.build_deps) + len(p.run_deps) for p in plan.packages)
    generated = time.perf_counter() - started
    engine = make_engine(url)
    migrate(engine)
    meter, clock, broker, publisher = Meter(), Clock(), Broker(), Publisher()
    meter.attach(engine)
    store = SqlStore(engine, clock)
    config = SchedulerConfig(retry=RetryPolicy(tries=1))  # a failure blocks at once: the blocking path is measured
    coordinator = Coordinator(store, Resolver(plan), broker, publisher, prior=plan_durations(plan), clock=clock, config=config, simulated=True)
    rig = Rig(coordinator, engine, meter, clock, broker, publisher, engine.dialect.name == "postgresql")
    store.create_session(SESSION, REQUEST, simulated=True)
    save = _save(rig)
    fast_forward(engine, SESSION, DONE, max(fleets), clock.now())
    per_fleet = max(8, min(completions, size // 25))
    phases = [_phase(rig, drones, per_fleet, batch) for drones in fleets]
    phases[-1]["block_ms"] = _block(rig)
    engine.dispose()
    return {"size": size, "edges": edges, "gates": gates, "generate_s": generated, "save": save, "phases": phases}


def _save(rig: Rig) -> dict[str, float]:
    before_rss, (stmts, _) = _rss_mib(), rig.meter.snapshot()
    started = time.perf_counter()
    rig.coordinator.plan(SESSION)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "statements": rig.meter.statements - stmts, "peak_rss_mib": _rss_mib(),
            "rss_growth_mib": _rss_mib() - before_rss}


def _register(rig: Rig, drones: int) -> None:
    store = rig.coordinator.store
    assert isinstance(store, SqlStore)
    for i in range(drones):
        store.register_drone(_identity(i))


def _identity(i: int, running: tuple[str, ...] = ()) -> DroneIdentity:
    return DroneIdentity(f"d{i:03d}", ARCH, 8, 16000, 100000, SLOTS, builder="simulate", running=running)


def _take(rig: Rig, n: int) -> list[tuple[BuildRequest, str]]:
    taken, rig.broker.sent[:n] = rig.broker.sent[:n], []
    return taken


def _phase(rig: Rig, drones: int, completions: int, batch: int) -> dict[str, Any]:
    _register(rig, drones)
    rig.coordinator.dispatch(ARCH)
    finish: list[float] = []
    starts: list[float] = []
    beats: list[float] = []
    counts = {"finish": 0, "start": 0, "beat": 0}
    rows_before = pg_rows_read(rig.engine) if rig.postgres else 0
    steps_before, publish_before = rig.meter.vm_steps, rig.publisher.seconds
    rig.place_in.clear()
    rig.cpu_in.clear()
    rig.wall_in.clear()
    with timed_place(dispatch_module) as placed:
        rig.placed = placed
        done = 0
        while done < completions and rig.broker.sent:
            work = _take(rig, batch)
            rig.clock.t += 0.25
            starts.append(_timed(rig, counts, "start", lambda w=work: rig.coordinator.builds_started(  # type: ignore[misc]
                [StartReport(r.attempt_id, q.removeprefix("drone."), ARCH, rig.clock.now()) for r, q in w])) / len(work))
            rig.clock.t += 0.25
            results = [BuildResult(r.attempt_id, q.removeprefix("drone."), Outcome.SUCCESS, "x", "0" * 64, 1,
                                   started_at=rig.clock.now() - 0.25, finished_at=rig.clock.now(), simulated=True, build_seconds=0.25)
                       for r, q in work]
            finish.append(_timed(rig, counts, "finish", lambda res=results: rig.coordinator.builds_finished(res)) / len(work))  # type: ignore[misc]
            done += len(work)
            beat = _identity(done % drones, _running(rig, done % drones))
            beats.append(_timed(rig, counts, "beat", lambda b=beat: rig.coordinator.drone_hello(b)))  # type: ignore[misc]
    rows = (pg_rows_read(rig.engine) - rows_before) if rig.postgres else 0
    steps = rig.meter.vm_steps - steps_before
    return {"drones": drones, "completions": done, "finish_p50_ms": statistics.median(finish) * 1000,
            "finish_mean_ms": statistics.fmean(finish) * 1000, "statements": counts["finish"] / max(done, 1),
            "db_work": (rows if rig.postgres else steps * 1000 / 1000) / max(done, 1),
            "place_ms": rig.place_in.get("finish", 0.0) * 1000 / max(done, 1),
            "finish_store_ms": (rig.cpu_in.get("finish", 0.0) - rig.place_in.get("finish", 0.0)) * 1000 / max(done, 1),
            "finish_wall_ms": rig.wall_in.get("finish", 0.0) * 1000 / max(done, 1),
            "publish_ms": (rig.publisher.seconds - publish_before) * 1000 / max(done, 1),
            "start_ms": statistics.fmean(starts) * 1000, "start_statements": counts["start"] / max(done, 1),
            "heartbeat_ms": statistics.fmean(beats) * 1000, "heartbeat_statements": counts["beat"] / max(len(beats), 1)}


def _running(rig: Rig, drone: int) -> tuple[str, ...]:
    name = f"drone.d{drone:03d}"
    return tuple(r.attempt_id for r, q in rig.broker.sent if q == name)


def _timed(rig: Rig, counts: dict[str, int], kind: str, call: Any) -> float:
    """CPU seconds of ``call``; its statements are added to ``counts[kind]``."""
    before, placed = rig.meter.statements, len(rig.placed)
    started, wall = time.process_time(), time.perf_counter()
    call()
    spent = time.process_time() - started
    rig.wall_in[kind] = rig.wall_in.get(kind, 0.0) + time.perf_counter() - wall
    counts[kind] += rig.meter.statements - before
    rig.place_in[kind] = rig.place_in.get(kind, 0.0) + sum(rig.placed[placed:])
    rig.cpu_in[kind] = rig.cpu_in.get(kind, 0.0) + spent
    return spent


def _block(rig: Rig, failures: int = 3) -> float:
    """Mean wall milliseconds of a failure that blocks its package and skips what needs it."""
    spent = []
    for request, queue in _take(rig, failures):
        rig.clock.t += 0.25
        result = BuildResult(request.attempt_id, queue.removeprefix("drone."), Outcome.FAILED, log_tail=FAILED_TAIL,
                             started_at=rig.clock.now() - 0.25, finished_at=rig.clock.now(), simulated=True, exit_code=1)
        started = time.perf_counter()
        rig.coordinator.builds_finished([result])
        spent.append(time.perf_counter() - started)
    return statistics.fmean(spent) * 1000 if spent else 0.0


__all__ = ["run"]
