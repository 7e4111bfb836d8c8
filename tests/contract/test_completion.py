"""Contract: attempts and the drones' reports (ports DispatchStore.create_attempts, CompletionStore)."""

from __future__ import annotations

import pytest

from swarm_celery.domain.model import AttemptState, BuildResult, Outcome, PackageState
from swarm_celery.domain.records import NewAttempt, PublishedArtifact, StartReport
from tests.contract.conftest import PLAN, Store, drone, events, planned
from tests.coordinator_kit import FakeClock


def dispatched(store: Store, ids: dict[str, int], *cpvs: str, to: str = "d1") -> dict[str, str]:
    attempts = {cpv: f"a-{cpv.split('/')[1]}" for cpv in cpvs}
    store.create_attempts([NewAttempt(attempts[cpv], ids[cpv], f"drone.{to}", to, 10.0) for cpv in cpvs])
    return attempts


def test_attempts_dispatch_their_packages(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1", "app-misc/tool-1")
    (context,) = store.attempt_contexts([a["sys-libs/base-1"], "unknown"]).values()
    attempt, package, session = context
    assert (attempt.state, attempt.drone, attempt.queue, attempt.dispatched_at) == (AttemptState.DISPATCHED, "d1", "drone.d1", clock.t)
    assert (package.state, package.current_attempt, session.id) == (PackageState.DISPATCHED, a["sys-libs/base-1"], "s1")
    assert store.get_attempt(a["app-misc/tool-1"]) is not None and store.get_attempt("unknown") is None
    with pytest.raises(LookupError):
        store.create_attempts([NewAttempt("a-x", 99999, "drone.d1", "d1", 1.0)])
    assert store.get_attempt("a-x") is None


def test_a_start_counts_only_for_the_current_dispatched_attempt(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1")
    clock.t += 5
    applied = store.mark_started_many([StartReport(a["sys-libs/base-1"], "d1", "amd64", 1001.0), StartReport("unknown", "d1", "amd64", 1.0)])
    assert applied == {a["sys-libs/base-1"]}
    attempt = store.get_attempt(a["sys-libs/base-1"])
    assert attempt is not None and (attempt.state, attempt.started_at) == (AttemptState.STARTED, 1001.0)
    assert {p.cpv: p.state for p in store.packages_in_state([PackageState.BUILDING], "s1")} == {"sys-libs/base-1": PackageState.BUILDING}
    assert store.mark_started_many([StartReport(a["sys-libs/base-1"], "d1", "amd64", 1.0)]) == set()  # started already
    other = dispatched(store, ids, "sys-libs/rt-1", to="d2")
    assert store.mark_started_many([StartReport(other["sys-libs/rt-1"], "d1", "amd64", 1.0)]) == set()  # given to d2, not d1
    attempt = store.get_attempt(other["sys-libs/rt-1"])
    assert attempt is not None and (attempt.state, attempt.drone) == (AttemptState.DISPATCHED, "d2")
    (load,) = store.drone_loads("amd64")
    assert load.last_seen == clock.t


def success(attempt_id: str, drone_name: str = "d1", seconds: float = 7.0) -> BuildResult:
    return BuildResult(attempt_id, drone_name, Outcome.SUCCESS, "/s/x.gpkg.tar", "0" * 64, 10, "x" * 5000, 1001.0, 1008.0, True, seconds)


def test_publishing_closes_gates_and_counts_the_build(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    contexts = store.attempt_contexts(list(a.values()))
    items = [(success(aid), PublishedArtifact(f"{cpv}.gpkg.tar", "f" * 64, 123), contexts[aid][1]) for cpv, aid in a.items()]
    store.mark_published_many(items)
    store.mark_published_many([])
    by_cpv = {p.cpv: p for p in store.packages_in_state(list(PackageState), "s1")}
    assert by_cpv["sys-libs/base-1"].state is PackageState.PUBLISHED and by_cpv["dev-libs/lib-1"].pending == 0
    assert by_cpv["app-misc/app-1"].pending == 1
    attempt = store.get_attempt(a["sys-libs/base-1"])
    assert attempt is not None
    assert (attempt.state, attempt.outcome, attempt.published_at, attempt.build_seconds) == (AttemptState.FINISHED, "success", clock.t, 7.0)
    assert (attempt.started_at, attempt.finished_at, len(attempt.log_tail)) == (1001.0, 1008.0, 4000)
    assert [e.message for e in events(store, "package.published")] == ["sys-libs/base-1 built by d1", "sys-libs/rt-1 built by d1"]
    assert store.history_seconds() == {"sys-libs/base": [7.0], "sys-libs/rt": [7.0]}


def test_failures_count_against_the_drone_and_cancellations_against_nobody(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    failed = BuildResult(a["sys-libs/base-1"], "d1", Outcome.FAILED, log_tail="make failed", started_at=0.0, finished_at=0.0)
    store.mark_failed(failed, "compile phase failed", "compile", infrastructure=False)
    attempt = store.get_attempt(a["sys-libs/base-1"])
    assert attempt is not None and (attempt.outcome, attempt.error, attempt.failure_kind, attempt.finished_at) == (
        "failed", "compile phase failed", "compile", clock.t)
    assert [(f.drone, f.infrastructure) for f in store.failures(ids["sys-libs/base-1"])] == [("d1", False)]
    assert store.packages_in_state([PackageState.FAILED], "s1")[0].reason == "compile phase failed"
    assert events(store, "package.failed")[0].message == "sys-libs/base-1 failed on d1 (compile): compile phase failed"
    store.mark_cancelled(BuildResult(a["sys-libs/rt-1"], "d1", Outcome.CANCELLED), "revoked")
    (rt,) = store.find_packages("sys-libs/rt", "s1")
    assert (rt.state, rt.current_attempt, rt.reason) == (PackageState.NEEDED, None, "revoked")
    assert store.failures(ids["sys-libs/rt-1"]) == []
    with pytest.raises(LookupError):
        store.mark_failed(BuildResult("unknown", "d1", Outcome.FAILED), "x")


def test_stale_reports_are_noted_against_their_session(store: Store) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1")
    store.note_stale_report(a["sys-libs/base-1"], "late")
    store.note_stale_report("unknown", "who?")
    assert [(e.session_id, e.subject) for e in events(store, "attempt.stale")] == [("s1", a["sys-libs/base-1"]), (None, "unknown")]


def test_what_the_binhost_holds_by_identity_and_where(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    contexts = store.attempt_contexts(list(a.values()))
    store.mark_published_many([(success(aid), PublishedArtifact(f"{cpv}-1.gpkg.tar", "f" * 64, 1), contexts[aid][1])
                               for cpv, aid in a.items()])
    assert store.published_identities("amd64", True) == {"id-sys-libs/base-1", "id-sys-libs/rt-1"}
    assert store.published_identities("amd64", False) == set() and store.published_identities("arm64", True) == set()
    clock.t += 1
    planned(store, "s2", reused=frozenset({"sys-libs/base-1"}))  # built by s1, not again
    assert store.published_paths("s2") == {"sys-libs/base-1": "sys-libs/base-1-1.gpkg.tar"}
    assert store.published_paths("s1") == {"sys-libs/base-1": "sys-libs/base-1-1.gpkg.tar", "sys-libs/rt-1": "sys-libs/rt-1-1.gpkg.tar"}
    builds = store.staged_builds("amd64")  # what the disk budget reads: each published file's identity, and when
    assert builds == {f"{cpv}-1.gpkg.tar": (f"id-{cpv}/simulated", clock.t - 1) for cpv in a} and store.staged_builds("arm64") == {}
    assert store.running_cpvs("amd64") == {p.cpv for p in PLAN.packages} and store.running_cpvs("arm64") == set()
    assert store.finish_session("s1") and not store.finish_session("s1")  # only the call that completed it says so
