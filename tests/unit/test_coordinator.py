"""The Coordinator service on a real SQLite store with fake resolver, dispatcher and publisher."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from swarm_celery.domain.emerge_log import LoggedBuild
from swarm_celery.domain.model import Outcome, PackageState, SessionState
from swarm_celery.domain.records import StartReport
from swarm_celery.errors import ResolveError
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import REQUEST, World, failure, identity, states, success


def test_plan_dispatches_only_packages_without_gates(world: World) -> None:
    assert world.coordinator.plan("s1") == 5
    first = {r.cpv for r in world.dispatcher.take()}
    assert first == {"sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1"}
    assert states(world.store)["dev-libs/lib-1"] == "needed"


def test_package_waits_for_its_build_deps_and_every_run_closure(world: World) -> None:
    world.coordinator.plan("s1")
    by_cpv = {r.cpv: r for r in world.dispatcher.take()}
    world.coordinator.build_finished(success(by_cpv["sys-libs/base-1"]))
    assert world.dispatcher.take() == []  # lib builds with base, but emerge merges lib: its own run dep rt must be there too
    world.coordinator.build_finished(success(by_cpv["sys-libs/rt-1"]))
    lib = world.dispatcher.take()
    assert [r.cpv for r in lib] == ["dev-libs/lib-1"]
    world.coordinator.build_finished(success(lib[0]))
    assert [r.cpv for r in world.dispatcher.take()] == ["app-misc/app-1"]  # lib installed, and so rt (lib's RDEPEND)


def test_full_run_publishes_everything_in_gate_order(world: World) -> None:
    world.coordinator.plan("s1")
    pending = world.dispatcher.take()
    while pending:
        request = pending.pop(0)
        world.coordinator.build_started(request.attempt_id, "drone-1", "amd64", 1.0)
        world.coordinator.build_finished(success(request))
        pending += world.dispatcher.take()
    assert world.publisher.published.index("dev-libs/lib-1") > world.publisher.published.index("sys-libs/base-1")
    assert world.publisher.published.index("app-misc/app-1") > world.publisher.published.index("sys-libs/rt-1")
    assert set(states(world.store).values()) == {"published"}
    session = world.store.get_session("s1")
    assert session is not None and session.state is SessionState.COMPLETE


def test_failure_retries_on_another_drone_then_blocks_and_skips_dependents(world: World) -> None:
    world.store.register_drone(identity("drone-2"))
    world.coordinator.plan("s1")
    by_cpv = {r.cpv: r for r in world.dispatcher.take()}
    first = world.dispatcher.drone(by_cpv["sys-libs/base-1"])
    other = {"drone-1": "drone-2", "drone-2": "drone-1"}[first]
    world.coordinator.build_finished(failure(by_cpv["sys-libs/base-1"], first))
    assert states(world.store)["sys-libs/base-1"] == "needed"  # waiting for its backoff, not failed
    assert world.dispatcher.wakes and world.dispatcher.wakes[-1][1] == pytest.approx(60.0)
    for cpv in ("sys-libs/rt-1", "app-misc/tool-1"):
        world.coordinator.build_finished(success(by_cpv[cpv], world.dispatcher.drone(by_cpv[cpv])))
    assert all(r.cpv != "sys-libs/base-1" for r in world.dispatcher.take())  # not before the backoff
    world.clock.t += 61
    world.coordinator.dispatch("amd64")
    sent = world.dispatcher.sent
    assert [(r.cpv, q) for r, q in sent] == [("sys-libs/base-1", f"drone.{other}")]  # never again to the first
    retry = world.dispatcher.take()[0]
    world.coordinator.build_finished(failure(retry, other))
    final = states(world.store)
    assert final["sys-libs/base-1"] == PackageState.BLOCKED
    assert final["dev-libs/lib-1"] == final["app-misc/app-1"] == PackageState.SKIPPED
    assert final["app-misc/tool-1"] == PackageState.PUBLISHED
    reasons = {p.cpv: p.reason for p in Queries(world.store.engine).packages("s1")}
    assert reasons["app-misc/app-1"] == "needs sys-libs/base-1, which is blocked"
    assert reasons["sys-libs/base-1"].startswith("failed on 2 drones (drone-1, drone-2); last: compile phase failed")
    session = world.store.get_session("s1")
    assert session is not None and session.state is SessionState.COMPLETE


def test_infrastructure_failures_never_block_and_ground_a_drone(world: World) -> None:
    world.reconfigure(breaker_failures=2)
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()  # all on drone-1, the only drone yet
    world.store.register_drone(identity("drone-2"))
    for request in sent[:2]:
        result = replace(failure(request, "drone-1"), log_tail="ld: final link failed: No space left on device")
        world.coordinator.build_finished(result)
    packages = {p.cpv: p for p in Queries(world.store.engine).packages("s1")}
    assert {packages[r.cpv].state for r in sent[:2]} == {"dispatched"}  # a first infrastructure failure: elsewhere, at once
    assert {(r.cpv, q) for r, q in world.dispatcher.sent} >= {(r.cpv, "drone.drone-2") for r in sent[:2]}
    drone = next(d for d in Queries(world.store.engine).fleet() if d.name == "drone-1")
    assert drone.grounded_until == pytest.approx(world.clock.t + 300)
    world.clock.t += 100  # backoff over, drone-1 still grounded: everything goes to drone-2
    world.store.touch_drone("drone-1", "amd64")
    world.store.touch_drone("drone-2", "amd64")
    world.coordinator.dispatch("amd64")
    assert {q for _, q in world.dispatcher.sent} == {"drone.drone-2"}


def test_duplicate_and_unknown_completions_are_fenced(world: World) -> None:
    world.coordinator.plan("s1")
    request = next(r for r in world.dispatcher.take() if r.cpv == "app-misc/tool-1")
    world.coordinator.build_finished(success(request))
    world.coordinator.build_finished(success(request))  # duplicate delivery
    world.coordinator.build_finished(failure(request))  # late contradicting report
    assert world.publisher.published.count("app-misc/tool-1") == 1
    assert states(world.store)["app-misc/tool-1"] == "published"
    world.coordinator.build_finished(replace(success(request), attempt_id="f" * 32))
    kinds = [e.kind for e in Queries(world.store.engine).events(None)]
    assert "attempt.stale" in kinds and "attempt.unknown" in kinds


def test_rejected_artifact_fails_the_attempt(world: World) -> None:
    world.publisher.reject.add("app-misc/tool-1")
    world.coordinator.plan("s1")
    request = next(r for r in world.dispatcher.take() if r.cpv == "app-misc/tool-1")
    world.coordinator.build_finished(success(request))
    packages = {p.cpv: p for p in Queries(world.store.engine).packages("s1")}
    assert packages["app-misc/tool-1"].state == "needed"  # an infrastructure failure: retried elsewhere
    assert "artifact rejected: sha256 mismatch for app-misc/tool-1" in packages["app-misc/tool-1"].reason
    assert packages["app-misc/tool-1"].reason.count("artifact rejected") == 1  # said once, not "artifact rejected: artifact rejected:"


def test_resolve_error_fails_session_and_writes_no_packages(world: World) -> None:
    world.resolver.error = ResolveError("atom 'app-misc/nope' matches no ebuild", kind="no_match", atom="app-misc/nope")
    assert world.coordinator.plan("s1") == 0
    session = world.store.get_session("s1")
    assert session is not None and session.state is SessionState.FAILED and "app-misc/nope" in session.error
    assert Queries(world.store.engine).packages("s1") == [] and world.dispatcher.sent == []


def test_plan_is_idempotent(world: World) -> None:
    world.coordinator.plan("s1")
    world.coordinator.plan("s1")  # redelivered swarm.plan
    assert world.resolver.calls == 1 and len(world.dispatcher.take()) == 3


def test_unexpected_planning_error_fails_the_session_and_is_raised(world: World) -> None:
    class Broken:
        def resolve(self, request: object, allow_missing: bool = False) -> object:
            raise RuntimeError("disk on fire")

    world.coordinator.planner.resolver = Broken()  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="disk on fire"):
        world.coordinator.plan("s1")
    session = world.store.get_session("s1")
    assert session is not None and session.state is SessionState.FAILED
    assert "RuntimeError: disk on fire" in session.error and "coordinator log" in session.error
    assert world.dispatcher.sent == []


def test_a_batch_of_completions_is_one_publication_and_one_placement(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.coordinator.plan("s1")
    by_cpv = {r.cpv: r for r in world.dispatcher.take()}
    placements: list[str] = []
    dispatch = world.coordinator.dispatcher.dispatch
    monkeypatch.setattr(world.coordinator.dispatcher, "dispatch", lambda arch: placements.append(arch) or dispatch(arch))
    world.publisher.reject.add("app-misc/tool-1")
    base, rt, tool = by_cpv["sys-libs/base-1"], by_cpv["sys-libs/rt-1"], by_cpv["app-misc/tool-1"]
    world.coordinator.builds_finished([success(base), success(rt), success(rt), success(tool),
                                       replace(success(rt), attempt_id="f" * 32)])
    assert world.publisher.batches == [3]  # base, rt and tool checked together; the duplicate rt report never got there
    assert world.publisher.published == ["sys-libs/base-1", "sys-libs/rt-1"]
    assert placements == ["amd64"]  # one placement for the whole batch
    assert [r.cpv for r in world.dispatcher.take()] == ["dev-libs/lib-1"]
    packages = {p.cpv: p for p in Queries(world.store.engine).packages("s1")}
    assert packages["app-misc/tool-1"].state == "needed" and "artifact rejected" in packages["app-misc/tool-1"].reason
    events = Queries(world.store.engine).events(None)
    assert any(e.kind == "attempt.stale" and "duplicate completion for sys-libs/rt-1" in e.message for e in events)
    assert any(e.kind == "attempt.unknown" for e in events)
    assert sum(e.kind == "package.published" for e in events) == 2


def test_a_batch_of_start_reports_marks_the_current_ones_and_fences_the_rest(world: World) -> None:
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()
    done = sent[0]
    world.coordinator.build_finished(success(done))
    reports = [StartReport(r.attempt_id, "drone-1", "amd64", 5.0) for r in sent] + [StartReport("e" * 32, "drone-1", "amd64", 5.0)]
    world.coordinator.builds_started(reports)
    packages = {p.cpv: p for p in Queries(world.store.engine).packages("s1")}
    assert packages[done.cpv].state == "published"  # its completion overtook the start: nothing changes
    assert {packages[r.cpv].state for r in sent[1:]} == {"building"}
    kinds = [e.kind for e in Queries(world.store.engine).events(None)]
    assert kinds.count("attempt.unknown") == 1 and "attempt.stale" not in kinds


def test_the_scheduler_learns_the_swarm_pace_and_puts_busy_drones_on_the_wall_clock(world: World) -> None:
    world.coordinator.plan("s1")
    assert world.coordinator.dispatcher.learned("amd64", world.clock.now()).pace == 1.0  # nothing built yet
    pending = world.dispatcher.take()
    while pending:  # every build: 1 s of wall time for 16 expected seconds (the default weight)
        request = pending.pop(0)
        world.coordinator.build_started(request.attempt_id, "drone-1", "amd64", 1.0)
        world.coordinator.build_finished(success(request))
        pending += world.dispatcher.take()
    learned = world.coordinator.dispatcher.learned("amd64", world.clock.now())
    assert learned.pace == pytest.approx(1 / 16) and learned.settled
    world.store.create_session("s2", REQUEST, simulated=True)
    world.coordinator.plan("s2")
    (busy,) = world.coordinator.dispatcher.capacities("amd64", world.clock.now())
    running = sorted(t for t, _ in world.store.drone_loads("amd64")[0].running)
    assert busy.busy_until[0] == pytest.approx(running[0] + 16 / 16)  # not 16 s: this swarm builds 16× faster than the table


def test_imported_emerge_history_weighs_packages_before_the_shipped_table(world: World) -> None:
    added = world.store.import_history([LoggedBuild("sys-libs/base-0.9", 0, 500), LoggedBuild("sys-libs/base-1", 1000, 1700)], "emerge.log")
    assert added == 2 and world.store.import_history([LoggedBuild("sys-libs/base-1", 1000, 1700)], "emerge.log") == 0
    world.coordinator.plan("s1")
    expected = {p.cpv: p.expected for p in world.store.find_packages("sys-libs/base")}
    assert expected == {"sys-libs/base-1": 600.0}  # the median of its two recorded builds, any version


def test_a_build_revoked_on_the_drone_is_placed_again_and_counts_against_nobody(world: World) -> None:
    world.coordinator.plan("s1")
    base = next(r for r in world.dispatcher.take() if r.cpv == "sys-libs/base-1")
    world.coordinator.build_started(base.attempt_id, "drone-1", "amd64", 1.0)
    cancelled = replace(success(base), outcome=Outcome.CANCELLED, artifact_path="", sha256="", log_tail="build-swarm: build revoked")
    world.coordinator.build_finished(cancelled)
    again = [r for r in world.dispatcher.take() if r.cpv == "sys-libs/base-1"]
    assert len(again) == 1 and again[0].attempt_id != base.attempt_id  # at once, no backoff, and on the same drone if it is free
    history = {a.attempt: a for a in Queries(world.store.engine).history("s1")}
    assert (history[base.attempt_id].state, history[base.attempt_id].outcome) == ("finished", "cancelled")
    assert world.store.failures(world.store.find_packages("sys-libs/base", "s1")[0].id) == []  # no retry budget spent
    assert any(e.kind == "attempt.cancelled" for e in Queries(world.store.engine).events("s1"))
    world.coordinator.build_finished(cancelled)  # the same report again: fenced, nothing moves
    assert world.dispatcher.take() == []


def test_reclaim_takes_back_a_silent_drones_work_and_fences_its_late_report(world: World) -> None:
    world.reconfigure(offline_after=30.0, lease=20.0)
    world.coordinator.plan("s1")
    base = next(r for r in world.dispatcher.take() if r.cpv == "sys-libs/base-1")
    world.coordinator.build_started(base.attempt_id, "drone-1", "amd64", world.clock.now())
    world.store.register_drone(identity("drone-2"))
    world.clock.t += 31  # drone-1 falls silent; drone-2 keeps heart-beating
    world.coordinator.drone_hello(identity("drone-2"))
    world.dispatcher.take()
    assert world.coordinator.reclaim() == 3  # everything drone-1 held, started or queued
    assert base.attempt_id in world.dispatcher.revoked
    again = [r for r in world.dispatcher.take() if r.cpv == "sys-libs/base-1"]
    assert len(again) == 1 and again[0].attempt_id != base.attempt_id
    assert {d.name: d.state for d in Queries(world.store.engine).fleet()}["drone-1"] == "offline"
    world.coordinator.build_finished(success(base, "drone-1"))  # drone-1 was only frozen: its completion is stale
    history = {a.attempt: a for a in Queries(world.store.engine).history("s1")}
    assert history[base.attempt_id].state == "stale" and history[base.attempt_id].outcome is None
    assert states(world.store)["sys-libs/base-1"] == "dispatched"  # the new attempt stands
    kinds = [e.kind for e in Queries(world.store.engine).events("s1", limit=200)]
    assert "attempt.reclaimed" in kinds and "attempt.stale" in kinds
    assert world.coordinator.reclaim() == 0


def test_heartbeats_naming_a_build_keep_its_lease(world: World) -> None:
    world.reconfigure(offline_after=30.0, lease=20.0)
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()
    for request in sent:
        world.coordinator.build_started(request.attempt_id, "drone-1", "amd64", world.clock.now())
    running = sent[0]
    for _ in range(5):  # a long build: 5 × 15 s, each heartbeat naming it
        world.clock.t += 15
        world.coordinator.drone_hello(replace(identity("drone-1"), running=(running.attempt_id,)))
    reclaimed = world.coordinator.reclaim()
    assert reclaimed == len(sent) - 1  # the builds the drone stopped naming are taken back, the long one is not
    assert states(world.store)[running.cpv] == "building"


def test_a_heartbeat_gives_work_only_to_a_drone_with_room(world: World) -> None:
    world.store.set_drone_paused("drone-1", True)
    world.coordinator.plan("s1")
    assert world.dispatcher.take() == []  # no drone takes work
    world.store.register_drone(identity("drone-2", slots=1))
    world.coordinator.drone_hello(replace(identity("drone-2", slots=1), running=("elsewhere",)))  # busy in its one slot
    assert world.dispatcher.take() == []
    world.coordinator.drone_hello(identity("drone-2", slots=1))  # idle: it gets work at once
    assert [world.dispatcher.drone(r) for r in world.dispatcher.take()] == ["drone-2"]


@dataclass
class Census:
    ids: frozenset[str] | None = None
    run_id: str = "run-1"

    def held(self) -> frozenset[str] | None:
        return self.ids

    def epoch(self) -> str:
        return self.run_id


def test_reclaim_places_again_what_the_broker_lost_and_only_that(world: World) -> None:
    census = Census()
    world.coordinator.reclaimer.census = census
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()
    started, kept, lost = sent[0], sent[1], sent[2]
    world.coordinator.build_started(started.attempt_id, "drone-1", "amd64", world.clock.now())
    census.ids = frozenset(r.attempt_id for r in sent)
    assert world.coordinator.reclaim() == 0
    census.ids, census.run_id = frozenset({kept.attempt_id}), "run-2"  # Redis restarted: one message sent since survives
    assert world.coordinator.reclaim() == 0  # missing once: maybe moving between a queue and a worker
    assert world.coordinator.reclaim() == 1
    again = world.dispatcher.take()
    assert [r.cpv for r in again] == [lost.cpv] and again[0].attempt_id != lost.attempt_id
    assert lost.attempt_id in world.dispatcher.revoked
    events = [e for e in Queries(world.store.engine).events("s1", limit=200) if e.kind == "attempt.reclaimed"]
    assert [(e.subject, e.message) for e in events] == [
        (lost.attempt_id, f"{lost.cpv}: its message to drone-1 is in no broker queue (the broker restarted or was flushed)")]
    (restart,) = [e.message for e in Queries(world.store.engine).events(None, limit=200) if e.kind == "broker.restarted"]
    assert restart == "the broker restarted (run id run-1 → run-2); it holds 1 messages of attempts: what it lost is placed again"
    census.ids = None  # a transport that cannot tell: nothing is taken back on its account
    assert world.coordinator.reclaim() == 0 and world.coordinator.reclaim() == 0
