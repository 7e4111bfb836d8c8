"""Failure policy, capacity and operator controls through the real stack.

Real Redis, a real coordinator worker, real drone workers (simulated builds), the
synthetic tree resolved by real portage, SQLite as the record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery import bootstrap
from swarm_celery.domain.model import COORDINATOR_QUEUE
from tests.integration.demo_kit import parse_index
from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow

# what needs gmp built, or installable (virtual/libc needs glibc at run time: a drone merging it would need glibc)
GMP_DEPENDENTS = {"dev-libs/mpc", "dev-libs/mpfr", "sys-devel/gcc", "sys-libs/glibc", "virtual/libc"}


def name(cpv: str) -> str:
    return cpv.rsplit("-", 2)[0] if cpv.rsplit("-", 1)[1].startswith("r") else cpv.rsplit("-", 1)[0]


@pytest.fixture
def fast(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_TIME_SCALE="0.001", SWARM_RETRY_BACKOFF="0.2", SWARM_HEARTBEAT="2")


@pytest.fixture
def slow(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")  # every build takes the default 16 s × 0.05 = 0.8 s
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_TIME_SCALE="0.05", SWARM_DURATIONS=str(durations),
                          SWARM_RETRY_BACKOFF="0.2", SWARM_HEARTBEAT="2")


def test_always_failing_package_is_blocked_after_exactly_two_drones(fast: Swarm) -> None:
    fast.start_drones(["d1", "d2", "d3"], {"SWARM_SIMULATE_FAIL": "dev-libs/gmp"})
    session = fast.new_session()
    fast.wait(lambda: fast.state(session) == "complete", 120, "the session to complete")
    packages = fast.packages(session)
    by_state: dict[str, set[str]] = {}
    for cpv, pkg in packages.items():
        by_state.setdefault(pkg.state, set()).add(name(cpv))
    assert by_state["blocked"] == {"dev-libs/gmp"}
    assert by_state["skipped"] == GMP_DEPENDENTS
    assert len(by_state["published"]) == len(packages) - 6 == 42
    gmp = next(cpv for cpv in packages if name(cpv) == "dev-libs/gmp")
    attempts = [h for h in fast.queries.history(session) if h.cpv == gmp]
    assert len(attempts) == 2 and {h.outcome for h in attempts} == {"failed"}
    assert len({h.drone for h in attempts}) == 2  # retried on a different drone
    assert packages[gmp].reason.startswith("failed on 2 drones")
    for cpv in packages:
        if name(cpv) in GMP_DEPENDENTS:
            assert packages[cpv].reason == f"needs {gmp}, which is blocked"
    assert len(parse_index(fast.settings.binhost_dir / "amd64" / "Packages")) == 42
    why = fast.cli("explain", "dev-libs/mpc", "--json")
    assert why.code == 0 and why.json()[0]["code"] == "skipped" and gmp in why.json()[0]["summary"]

    # unblock: forgotten failures, gmp and its skipped dependents back in the queue; it fails on 2 more drones
    fast.cli("control", "clear_failures")
    out = fast.cli("control", "unblock", "dev-libs/gmp", "--json")
    assert out.code == 0 and out.json()["ok"] and "5 that were skipped" in out.json()["outcome"], out.stdout + out.stderr
    fast.wait(lambda: len([h for h in fast.queries.history(session) if h.cpv == gmp]) == 4 and fast.state(session) == "complete",
              60, "gmp to fail twice more")
    assert fast.packages(session)[gmp].state == "blocked"
    again = fast.cli("control", "reset", "sys-devel/flex")
    assert again.code == 0 and "published already" in again.stdout

    # malformed reports (a broken or hostile drone) are recorded and dropped; the batch they came in is still taken
    app = bootstrap.celery_app(fast.settings)
    app.send_task("swarm.build_finished", args=[{"drone": "d1"}], queue=COORDINATOR_QUEUE)
    app.send_task("swarm.build_finished", args=["not a result"], queue=COORDINATOR_QUEUE)
    app.send_task("swarm.build_started", args=["only-an-id"], queue=COORDINATOR_QUEUE)
    app.send_task("swarm.build_started", args=["f" * 32, "d1", "amd64", 1.0], queue=COORDINATOR_QUEUE)  # well-formed, unknown
    fast.wait(lambda: sum(e.kind == "report.invalid" for e in fast.queries.events(None, 500)) == 3, 20, "the malformed reports")
    fast.wait(lambda: any(e.kind == "attempt.unknown" and e.subject == "f" * 32 for e in fast.queries.events(None, 500)), 20,
              "the unknown attempt")
    messages = [e.message for e in fast.queries.events(None, 500) if e.kind == "report.invalid"]
    assert any("malformed completion report dropped: ValueError: attempt id is missing" in m for m in messages)
    assert any("malformed completion report dropped: ValueError: the build result is not a JSON object" in m for m in messages)
    assert any("malformed start report dropped: TypeError" in m for m in messages)


@pytest.fixture
def quiet(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    """As ``slow``, but drones send no heartbeat after their hello: a heartbeat also dispatches, so here nothing does
    unless the coordinator acts on what the test sends it."""
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_TIME_SCALE="0.05", SWARM_DURATIONS=str(durations),
                          SWARM_RETRY_BACKOFF="0.2", SWARM_HEARTBEAT="3600")


def test_pause_resume_and_per_drone_pause(quiet: Swarm) -> None:
    slow = quiet
    slow.start_drones(["d1", "d2"])
    assert slow.cli("control", "pause").code == 0
    session = slow.new_session()
    time.sleep(1.0)
    assert slow.queries.history(session) == []  # planned, nothing dispatched
    ready = slow.cli("explain", "sys-devel/gcc-config", "--json").json()[0]
    assert ready["code"] == "paused", ready
    assert slow.cli("control", "resume").code == 0
    slow.wait(lambda: len(slow.queries.history(session)) >= 2, 10, "dispatch after resume")
    resumed = [e for e in slow.queries.events(None, 500, kind="control.resume") if e.message == "dispatch resumed"]
    assert len(resumed) == 1, resumed
    first = min(h.dispatched_at for h in slow.queries.history(session))
    # the coordinator dispatches in the task that records the resume (no heartbeat or beat tick could have): timed
    # from its own event, so a slow CLI start on a loaded machine does not count
    assert resumed[0].ts <= first < resumed[0].ts + 2.0, (resumed, first)

    out = slow.cli("control", "pause", "--drone", "d1", "--json")
    assert out.json()["ok"], out.stdout
    paused_at = time.time()
    slow.wait(lambda: any(h.dispatched_at > paused_at + 1 for h in slow.queries.history(session)), 20, "more dispatches")
    later = [h for h in slow.queries.history(session) if h.dispatched_at > paused_at + 0.5]
    assert later and {h.drone for h in later} == {"d2"}
    fleet = {d.name: d for d in slow.queries.fleet()}
    assert fleet["d1"].paused and fleet["d1"].slots == 1 and fleet["d1"].cores >= 1

    nope = slow.cli("control", "pause", "--drone", "nope")
    assert nope.code == 1 and "no drone named nope" in nope.stdout
    bad = slow.cli("control", "unground")
    assert bad.code == 2 and "unground needs --drone" in bad.stderr

    cancel = slow.cli("control", "cancel", "--session", session, "--json")
    assert cancel.json()["ok"], cancel.stdout
    assert slow.state(session) == "cancelled"
    cancelled_at = time.time()
    time.sleep(1.5)
    history = slow.queries.history(session)
    assert not [h for h in history if h.dispatched_at > cancelled_at]
    assert {p.state for p in slow.packages(session).values()} <= {"published", "cancelled"}


def test_rebalance_moves_queued_work_off_a_drone(slow: Swarm) -> None:
    slow.start_drones(["d1"])
    # d2 is slow, claims 3 slots but runs one build at a time: two builds wait in its queue, not started
    slow.stack.start("d2", "drone", {"SWARM_DRONE_NAME": "d2", "SWARM_SLOTS": "3", "SWARM_SIMULATE_SPEED": "10"}, ("--concurrency", "1"))
    slow.wait(lambda: {d.name for d in slow.queries.fleet()} == {"d1", "d2"}, 30, "d2 announced")
    session = slow.new_session()

    def queued_on_d2() -> list[str]:
        return [h.attempt for h in slow.queries.history(session) if h.drone == "d2" and h.state == "dispatched"]

    slow.wait(lambda: len(queued_on_d2()) >= 2, 20, "work queued on d2")
    assert slow.cli("control", "pause", "--drone", "d2").code == 0
    out = slow.cli("control", "rebalance", "--json")
    assert out.json()["ok"] and "queued builds taken back" in out.json()["outcome"], out.stdout
    taken = int(out.json()["outcome"].split(": ")[1].split()[0])
    slow.wait(lambda: slow.state(session) == "complete", 120, "the session to complete")
    history = slow.queries.history(session)
    stale = [h for h in history if h.state == "stale"]
    assert len(stale) == taken >= 2
    for old in stale:  # placed again, on d1 (d2 is paused), and published from there
        assert any(h.cpv == old.cpv and h.drone == "d1" and h.outcome == "success" for h in history)
    published = [h for h in history if h.outcome == "success"]
    assert len(published) == len({h.cpv for h in published}) == len(slow.packages(session))  # each exactly once
    assert len(parse_index(slow.settings.binhost_dir / "amd64" / "Packages")) == len(slow.packages(session))


def test_queue_add_with_priority_jumps_the_queue(slow: Swarm) -> None:
    slow.start_drones(["d1"])
    first = slow.cli("queue", "add", "--json")  # the whole synthetic world
    assert first.code == 0, first.stderr
    a = first.json()["session"]
    slow.wait(lambda: slow.state(a) == "running" and len(slow.queries.history(a)) >= 3, 60, "session A under way")
    second = slow.cli("queue", "add", "sys-devel/gcc-config", "app-arch/gzip", "--priority", "10", "--json")
    assert second.code == 0 and second.json()["priority"] == 10, second.stderr
    b = second.json()["session"]
    slow.wait(lambda: slow.state(b) == "complete", 90, "session B to complete")
    planned_b = slow.queries.session(b).planned_at  # type: ignore[union-attr]
    after = sorted((h.dispatched_at, s) for s in (a, b) for h in slow.queries.history(s) if h.dispatched_at > planned_b)
    b_done = max(h.dispatched_at for h in slow.queries.history(b))
    a_meanwhile = [t for t, s in after if s == a and t < b_done]
    assert after and after[0][1] == b  # the next free slot went to the priority session
    assert len(a_meanwhile) <= len(slow.packages(b))  # A only got slots while B's packages waited for their dependencies
    bad = slow.cli("queue", "add", "not an atom!", "--json")
    assert bad.code == 2 and "not an atom!" in bad.stderr


@pytest.fixture
def breaker(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_TIME_SCALE="0.001", SWARM_RETRY_BACKOFF="0.1",
                          SWARM_HEARTBEAT="2", SWARM_BREAKER_FAILURES="2")


def test_a_drone_failing_on_infrastructure_is_grounded_and_its_work_finishes_elsewhere(breaker: Swarm) -> None:
    breaker.start_drones(["good"])
    breaker.start_drones(["bad"], {"SWARM_SIMULATE_FAIL": "infra:*"})  # every build ends on a full disk
    session = breaker.new_session()
    breaker.wait(lambda: breaker.state(session) == "complete", 120, "the session to complete")
    assert {p.state for p in breaker.packages(session).values()} == {"published"}
    failed = [h for h in breaker.queries.history(session) if h.outcome == "failed"]
    assert {h.drone for h in failed} == {"bad"}
    assert {(h.failure_kind, h.infrastructure) for h in failed} == {("disk_full", True)}
    assert len(failed) == 2  # grounded after the second: nothing more went to it
    bad = next(d for d in breaker.queries.fleet() if d.name == "bad")
    assert bad.grounded_until and bad.grounded_until > time.time()
    out = breaker.cli("control", "unground", "--drone", "bad", "--json")
    assert out.json()["ok"], out.stdout
    assert next(d for d in breaker.queries.fleet() if d.name == "bad").grounded_until is None
    assert breaker.cli("control", "retry_failures").stdout.strip() == "no blocked or failed packages"
    kinds = {e.kind for e in breaker.queries.events(None, limit=500)}
    assert {"drone.grounded", "drone.ungrounded", "package.retry", "control.unground"} <= kinds
