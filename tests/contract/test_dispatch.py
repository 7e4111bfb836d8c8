"""Contract: what is ready, learning from history, retries and fencing (ports DispatchStore, Fencing, CompletionStore)."""

from __future__ import annotations

from swarm_celery.domain.emerge_log import LoggedBuild
from swarm_celery.domain.model import AttemptState, BuildResult, Outcome, PackageState
from swarm_celery.domain.records import NewAttempt, PublishedArtifact, StartReport
from tests.contract.conftest import Store, drone, events, planned
from tests.contract.test_completion import dispatched, success
from tests.coordinator_kit import FakeClock


def test_ready_is_what_waits_for_nothing_in_running_sessions_of_the_arch(store: Store) -> None:
    planned(store)
    planned(store, "s2", priority=7)
    store.create_session("s3", store_request_arm64(), simulated=True)  # planning: nothing of it is ready
    ready = store.ready_packages("amd64")
    assert sorted((r.session_id, r.cpv) for r in ready) == sorted(
        (s, c) for s in ("s1", "s2") for c in ("sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1"))
    first = store.ready_packages("amd64", limit=2)
    assert [(r.session_id, r.priority) for r in first] == [("s2", 7), ("s2", 7)]
    assert [r.cpv for r in first] == ["app-misc/tool-1", "sys-libs/rt-1"]  # then by remaining path (rank), longest first
    assert first[0].use == ("ssl",) and first[0].slot == "0" and first[0].repo == "gentoo" and first[0].failed_on == frozenset()
    assert store.ready_packages("arm64") == []


def store_request_arm64():  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from tests.coordinator_kit import REQUEST
    return replace(REQUEST, arch="arm64")


def test_a_retry_waits_its_backoff_and_knows_where_it_failed(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1")
    store.mark_failed(BuildResult(a["sys-libs/base-1"], "d1", Outcome.FAILED, finished_at=1.0), "oops", "compile")
    store.requeue(ids["sys-libs/base-1"], clock.t + 60, "retry in 60 s")
    store.requeue(99999, 0.0, "no such package")  # ignored
    (base,) = [r for r in store.ready_packages("amd64") if r.cpv == "sys-libs/base-1"]
    assert (base.not_before, base.failed_on) == (clock.t + 60, frozenset({"d1"}))
    assert events(store, "package.retry")[0].message == "sys-libs/base-1: retry in 60 s"
    store.block_package(ids["sys-libs/base-1"], "failed on 2 drones")
    assert store.packages_in_state([PackageState.BLOCKED], "s1")[0].reason == "failed on 2 drones"
    assert all(r.cpv != "sys-libs/base-1" for r in store.ready_packages("amd64"))


def test_learning_samples_come_from_successes_of_the_arch(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    store.register_drone(drone("d2"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1")
    contexts = store.attempt_contexts(list(a.values()))
    results = {a["sys-libs/base-1"]: success(a["sys-libs/base-1"], "d1", 5.0), a["sys-libs/rt-1"]: success(a["sys-libs/rt-1"], "d2", 20.0)}
    store.mark_published_many([(r, PublishedArtifact("x", "0" * 64, 1), contexts[aid][1]) for aid, r in results.items()])
    store.mark_failed(BuildResult(a["app-misc/tool-1"], "d1", Outcome.FAILED, build_seconds=3.0), "oops")
    assert store.speed_samples("amd64") == {"d1": [(5.0, 10.0)], "d2": [(20.0, 10.0)]}
    assert sorted(store.pace_samples("amd64")) == [(7.0, 10.0), (7.0, 10.0)]
    assert store.speed_samples("arm64") == {} and store.pace_samples("arm64") == []


def test_imported_history_is_kept_once_per_source(store: Store) -> None:
    builds = [LoggedBuild("app-misc/tmux-3.4", 100, 130), LoggedBuild("app-misc/tmux-3.5", 200, 260)]
    assert store.import_history(builds, "emerge.log") == 2
    assert store.import_history(builds, "emerge.log") == 0
    assert store.import_history(builds[:1], "other.log") == 1
    assert store.history_seconds() == {"app-misc/tmux": [30.0, 60.0, 30.0]}
    assert [e.message for e in events(store, "history.imported")] == ["2 builds from emerge.log", "1 builds from other.log"]


def test_fencing_takes_attempts_back(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1")
    store.mark_started_many([])
    assert sorted(q.cpv for q in store.queued_attempts("amd64")) == ["app-misc/tool-1", "sys-libs/base-1", "sys-libs/rt-1"]
    assert store.queued_attempts("arm64") == []
    assert store.fence_attempts([], PackageState.NEEDED, "nothing") == 0
    assert store.fence_attempts([a["sys-libs/base-1"], a["sys-libs/rt-1"]], PackageState.CANCELLED, "cancelled") == 2
    attempt = store.get_attempt(a["sys-libs/base-1"])
    assert attempt is not None and (attempt.state, attempt.error, attempt.finished_at) == (AttemptState.STALE, "cancelled", clock.t)
    assert {p.cpv for p in store.packages_in_state([PackageState.CANCELLED], "s1")} == {"sys-libs/base-1", "sys-libs/rt-1"}
    assert [q.cpv for q in store.queued_attempts("amd64")] == ["app-misc/tool-1"]
    store.create_attempts([NewAttempt("again", ids["app-misc/tool-1"], "drone.d2", "d2", 1.0)])
    assert [q.id for q in store.queued_attempts("amd64")] == ["again"]  # the superseded attempt is no longer queued


def test_running_builds_are_the_current_attempts_in_flight_with_their_rank(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    ranks = {r.cpv: r.rank for r in store.ready_packages("amd64")}
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1")
    store.mark_started_many([StartReport(a["sys-libs/base-1"], "d1", "amd64", clock.t + 5.0)])
    store.fence_attempts([a["app-misc/tool-1"]], PackageState.NEEDED, "taken back")  # no longer in flight
    found = {r.cpv: r for r in store.running_builds("amd64")}
    assert set(found) == {"sys-libs/base-1", "sys-libs/rt-1"}
    base = found["sys-libs/base-1"]
    assert (base.attempt, base.package, base.session, base.drone, base.started, base.weight) == (
        a["sys-libs/base-1"], ids["sys-libs/base-1"], "s1", "d1", clock.t + 5.0, 10.0)
    assert found["sys-libs/rt-1"].started == clock.t  # sent, not started yet: counted from when it was sent
    assert {cpv: r.rank for cpv, r in found.items()} == {cpv: ranks[cpv] for cpv in found}
    assert store.running_builds("arm64") == []
    store.mark_failed(BuildResult(a["sys-libs/rt-1"], "d1", Outcome.FAILED, finished_at=1.0), "fetch failed", "fetch", True)
    store.requeue(ids["sys-libs/rt-1"], clock.t, "retry at once")
    store.create_attempts([NewAttempt("a-rt-1-again", ids["sys-libs/rt-1"], "drone.d2", "d2", 10.0)])
    (retry,) = [r for r in store.running_builds("amd64") if r.cpv == "sys-libs/rt-1"]
    assert (retry.attempt, retry.drone, retry.excluded) == ("a-rt-1-again", "d2", frozenset({"d1"}))
