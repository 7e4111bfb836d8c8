"""The chaos suite: faults injected into a running swarm, and proof that nothing is lost or published twice.

Each scenario runs the real stack — Redis, a coordinator worker, a real ``celery beat`` process
running stale-work reclaim every second, drone worker processes with simulated builds — on the
synthetic plan (48 packages resolved by real portage), injects faults mid-run, lets the run
finish, and checks: every planned package published exactly once, ``Packages`` consistent with
the record, no attempt left dangling, and the faults visible as events.

``SWARM_CHAOS_KILLS``, ``SWARM_CHAOS_FREEZES`` and ``SWARM_CHAOS_DUPLICATES`` set how many faults
each scenario injects (CI: 2, 1, 3; the README's full run: 10, 5, 6), plus the coordinator stopped
and killed once each and a drone whose 8 builds fail on infrastructure: 31 faults in the full run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.app.control import Control

from swarm_celery import bootstrap
from swarm_celery.binhost.index import parse_index
from swarm_celery.domain.model import BuildResult, Outcome
from swarm_celery.local.broker import LocalBroker, start_redis
from swarm_celery.tasks.messaging import CeleryReporter
from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("SWARM_CHAOS_KILLS", "2"))
FREEZES = int(os.environ.get("SWARM_CHAOS_FREEZES", "1"))
DUPLICATES = int(os.environ.get("SWARM_CHAOS_DUPLICATES", "3"))
REDIS_RESTARTS = int(os.environ.get("SWARM_CHAOS_REDIS_RESTARTS", "1"))
CHAOS_ENV = {"SWARM_TIME_SCALE": "0.05", "SWARM_HEARTBEAT": "0.5", "SWARM_OFFLINE_AFTER": "3", "SWARM_LEASE": "3",
             "SWARM_RECLAIM_EVERY": "1", "SWARM_RETRY_BACKOFF": "0.2",
             "SWARM_START_REPORT_AFTER": "0"}  # victims are picked from the builds the record shows started


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")  # every build: the default 16 s × 0.05 = 0.8 s
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_DURATIONS=str(durations), **CHAOS_ENV)


@pytest.fixture
def private_redis() -> Iterator[list[LocalBroker]]:
    """A redis-server of the test's own (no persistence), which the test may restart on the same port."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (scripts/services.sh installs it)")
    brokers = [start_redis(server)]
    yield brokers
    brokers[-1].stop()


def start(swarm: Swarm, drones: list[str]) -> None:
    swarm.stack.start("beat", "beat")
    swarm.start_drones(drones, {"SWARM_SLOTS": "1"})


def running_on(swarm: Swarm, session: str) -> dict[str, str]:
    """drone -> an attempt it has started and not finished."""
    return {str(a.drone): str(a.attempt) for a in swarm.queries.history(session) if a.state == "started"}


def worker(swarm: Swarm, name: str) -> object:
    return next(w for w in swarm.stack.workers if w.name == name and w.alive())


def check_exactly_once(swarm: Swarm, session: str) -> list[dict[str, object]]:
    """Every planned package published once, the index naming exactly them, nothing in flight; returns the events."""
    swarm.wait(lambda: swarm.state(session) != "running", 600, "the session")
    assert swarm.state(session) == "complete", swarm.queries.events(session, limit=20)
    packages = swarm.packages(session)
    assert {p.state for p in packages.values()} == {"published"}
    history = swarm.queries.history(session)
    published = Counter(str(a.cpv) for a in history if a.outcome == Outcome.SUCCESS.value and a.published_at)
    assert set(published) == set(packages) and set(published.values()) == {1}, published.most_common(3)
    assert not [a for a in history if a.state in ("dispatched", "started")]  # nothing dangling
    _, entries = parse_index((swarm.settings.binhost_dir / "amd64" / "Packages").read_text())
    assert sorted(e.cpv for e in entries) == sorted(packages)
    assert all((swarm.settings.binhost_dir / "amd64" / e.path).is_file() for e in entries)
    return swarm.queries.events(None, limit=5000)


SLOWER = {"SWARM_SLOTS": "1", "SWARM_SIMULATE_SPEED": "4"}  # 3.2 s builds: the run outlasts 10 kills and their reclaims


def test_drones_killed_mid_build_lose_nothing(swarm: Swarm) -> None:
    swarm.stack.start("beat", "beat")
    swarm.start_drones(["d1", "d2", "d3"], SLOWER)
    session = swarm.new_session()
    rng = random.Random(int(os.environ.get("SWARM_CHAOS_SEED", "7")))
    killed: list[tuple[str, str]] = []
    for n in range(KILLS):
        swarm.wait(lambda: bool(set(running_on(swarm, session)) - {k for k, _ in killed}), 120, "a build running")
        time.sleep(rng.uniform(0.0, 0.6))  # a random moment inside a build
        victims = sorted(set(running_on(swarm, session)) - {k for k, _ in killed})
        if not victims:
            continue
        name = rng.choice(victims)
        target = worker(swarm, name)
        os.killpg(target.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]  # the worker and its build children
        target.process.wait()  # type: ignore[attr-defined]
        swarm.stack.workers.remove(target)  # type: ignore[arg-type]
        killed.append((name, running_on(swarm, session).get(name, "")))
        swarm.start_drones([f"r{n}"], SLOWER)  # the fleet keeps its size
    events = check_exactly_once(swarm, session)
    reclaimed = [e for e in events if e.kind == "attempt.reclaimed"]
    assert {name for name, _ in killed} <= {e.message.split(" drone ")[1].split()[0] for e in reclaimed if " drone " in e.message}
    assert {name for name, _ in killed} <= {e.subject for e in events if e.kind == "drone.offline"}
    shown = swarm.cli("events", "--kind", "attempt.reclaimed", "--limit", "1000", "--json")
    assert shown.code == 0 and len(json.loads(shown.stdout)) == len(reclaimed)


def test_a_frozen_drone_past_its_lease_reports_a_stale_completion_that_is_ignored(swarm: Swarm) -> None:
    start(swarm, ["f1", "f2", "f3"])
    session = swarm.new_session()
    frozen: list[str] = []
    for _ in range(FREEZES):  # one drone at a time, each resumed before the next is frozen
        swarm.wait(lambda: bool(running_on(swarm, session)), 120, "a build running")
        name, attempt = sorted(running_on(swarm, session).items())[len(frozen) % len(running_on(swarm, session))]
        target = worker(swarm, name)
        os.killpg(target.process.pid, signal.SIGSTOP)  # type: ignore[attr-defined]
        frozen.append(attempt)
        swarm.wait(lambda: any(a.attempt == attempt and a.state == "stale" for a in swarm.queries.history(session)),  # noqa: B023
                   60, "the frozen drone's work reclaimed")
        os.killpg(target.process.pid, signal.SIGCONT)  # type: ignore[attr-defined]
        swarm.wait(lambda: any(e.kind == "attempt.stale" and e.subject == attempt  # noqa: B023
                               for e in swarm.queries.events(session, limit=1000)), 60, "its late report")
    events = check_exactly_once(swarm, session)
    assert set(frozen) <= {e.subject for e in events if e.kind == "attempt.stale"}


def test_a_duplicate_completion_for_a_finished_attempt_changes_nothing(swarm: Swarm) -> None:
    start(swarm, ["u1", "u2"])
    session = swarm.new_session()
    check_exactly_once(swarm, session)
    index = (swarm.settings.binhost_dir / "amd64" / "Packages").read_text()
    done = [a for a in swarm.queries.history(session) if a.outcome == "success"][:DUPLICATES]
    reporter = CeleryReporter(bootstrap.celery_app(swarm.settings))
    for attempt in done:
        reporter.finished(BuildResult(str(attempt.attempt), str(attempt.drone), Outcome.SUCCESS, artifact_path=str(attempt.artifact),
                                      sha256=str(attempt.sha256), started_at=1.0, finished_at=2.0, simulated=True))
    swarm.wait(lambda: sum(e.kind == "attempt.stale" for e in swarm.queries.events(session, limit=1000)) >= len(done), 60,
               "the duplicates fenced")
    assert (swarm.settings.binhost_dir / "amd64" / "Packages").read_text() == index
    check_exactly_once(swarm, session)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_the_coordinator_stopped_mid_run_and_restarted_loses_nothing(swarm: Swarm, sig: signal.Signals) -> None:
    start(swarm, ["c1", "c2", "c3"])
    session = swarm.new_session()
    swarm.wait(lambda: sum(p.state == "published" for p in swarm.packages(session).values()) >= 8, 120, "a few published")
    coordinator = worker(swarm, "coordinator")
    os.killpg(coordinator.process.pid, sig)  # type: ignore[attr-defined]  # reports pile up in Redis (or sit unacked)
    coordinator.process.wait()  # type: ignore[attr-defined]
    swarm.stack.workers.remove(coordinator)  # type: ignore[arg-type]
    time.sleep(2.0)
    swarm.stack.start("coordinator", "coordinator")
    # killed, the reports it had taken but not acknowledged stay in Redis's unacked set for the visibility timeout
    # (hours): their attempts come back as expired leases and are built again, once
    check_exactly_once(swarm, session)


def test_a_drone_whose_every_build_fails_on_infrastructure_is_grounded_and_its_work_finishes_elsewhere(swarm: Swarm) -> None:
    swarm.stack.start("beat", "beat")
    swarm.start_drones(["g1", "g2"], {"SWARM_SLOTS": "1"})
    swarm.start_drones(["broken"], {"SWARM_SLOTS": "1", "SWARM_SIMULATE_FAIL": "infra:*"})  # every build ends on a full disk
    session = swarm.new_session()
    events = check_exactly_once(swarm, session)
    failed = [a for a in swarm.queries.history(session) if a.outcome == "failed"]
    assert {a.drone for a in failed} == {"broken"} and {a.failure_kind for a in failed} == {"disk_full"}
    assert len(failed) == 8  # the default breaker: grounded at the 8th infrastructure failure, nothing more went to it
    assert any(e.kind == "drone.grounded" and e.subject == "broken" for e in events)
    control = bootstrap.celery_app(swarm.settings).control
    assert consumed(control, "broken") == set()  # cancel_consumer reached its worker, and only it
    assert consumed(control, "g1") == {"build.amd64", "drone.g1"}
    swarm.store.set_grounded("broken", time.time() - 1, "its grounding ran out (moved forward by the test)")
    swarm.wait(lambda: consumed(control, "broken") == {"build.amd64", "drone.broken"}, 30, "beat lifting the grounding")
    lifted = [e for e in swarm.queries.events(None, limit=5000) if e.kind == "drone.ungrounded" and e.subject == "broken"]
    assert [e.message for e in lifted] == ["broken: grounded for 300 s; it takes work again"]


def consumed(control: Control, drone: str) -> set[str]:
    """The queues the drone's worker consumes, asked over the broker (Celery's ``inspect active_queues``)."""
    replies = control.inspect(timeout=2.0, pattern=f"drone.{drone}@*", matcher="glob").active_queues() or {}
    assert len(replies) == 1, replies
    return {q["name"] for queues in replies.values() for q in queues}


def test_redis_restarted_mid_run_loses_nothing(tmp_path: Path, portage_cache: Path, private_redis: list[LocalBroker]) -> None:
    """Redis without persistence restarts: queued builds and reports are gone, workers holding an unacknowledged
    message exit (kombu 5.7, CELERY-FACTS.md) and are started again by their service manager (here: the kit)."""
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")
    broker = private_redis[0]
    for swarm in live_swarm(tmp_path, portage_cache, broker.url, SWARM_DURATIONS=str(durations), SWARM_LOOKAHEAD="1", **CHAOS_ENV):
        swarm.supervise = True
        start(swarm, ["x1", "x2", "x3"])
        session = swarm.new_session()
        for n in range(REDIS_RESTARTS):
            swarm.wait(lambda: sum(p.state == "published" for p in swarm.packages(session).values()) >= 6 + 8 * n,  # noqa: B023
                       120, "more published")
            port = int(broker.url.rsplit(":", 1)[1].split("/")[0])
            broker.stop()  # every queued build, every report on its way, every binding: gone
            time.sleep(0.5)
            broker = start_redis(str(shutil.which("redis-server")), port=port)
            private_redis.append(broker)
        events = check_exactly_once(swarm, session)
        kinds = Counter(str(e.kind) for e in events)
        assert kinds["broker.restarted"] == REDIS_RESTARTS, kinds
        restarts = sum(w.restarts for w in swarm.stack.workers)
        print(f"\n{REDIS_RESTARTS} Redis restarts: {restarts} worker restarts; events {dict(kinds)}")
        print("\n".join(str(e.message) for e in events if e.kind == "attempt.reclaimed"))
