"""Contract: what operator controls and explain read and change (ports ControlStore, ExplainStore)."""

from __future__ import annotations

from swarm_celery.domain.model import BuildResult, Outcome, PackageState, SessionState
from tests.contract.conftest import Store, drone, events, planned
from tests.contract.test_completion import dispatched
from tests.coordinator_kit import FakeClock


def test_find_packages_by_atom_newest_session_first(store: Store, clock: FakeClock) -> None:
    planned(store, "old")
    clock.t += 10
    planned(store, "new")
    store.create_session("planning", _request(), simulated=True)
    assert [(p.session_id, p.cpv) for p in store.find_packages("sys-libs/base")] == [("new", "sys-libs/base-1"), ("old", "sys-libs/base-1")]
    assert [p.session_id for p in store.find_packages("=sys-libs/base-1", "old")] == ["old"]
    assert store.find_packages(">sys-libs/base-1") == [] and store.find_packages("sys-libs/bas") == []
    assert [p.cpv for p in store.find_packages("sys-libs/rt", "new")] == ["sys-libs/rt-1"]
    store.cancel_session("old", "bye")
    assert [p.session_id for p in store.find_packages("sys-libs/base")] == ["new"]  # only running and complete sessions
    assert store.package_states("new") == dict.fromkeys(("sys-libs/base-1", "sys-libs/rt-1", "dev-libs/lib-1", "app-misc/app-1",
                                                         "app-misc/tool-1"), PackageState.NEEDED)


def _request():  # type: ignore[no-untyped-def]
    from tests.coordinator_kit import REQUEST
    return REQUEST


def test_reopen_brings_stuck_packages_and_their_session_back(store: Store) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1")
    store.mark_failed(BuildResult(a["sys-libs/base-1"], "d1", Outcome.FAILED), "oops")
    store.block_package(ids["sys-libs/base-1"], "blocked")
    store.skip_packages("s1", ["dev-libs/lib-1"], "needs base")
    store.finish_session("s1")
    assert {p.cpv for p in store.packages_in_state([PackageState.BLOCKED, PackageState.SKIPPED])} == {"sys-libs/base-1", "dev-libs/lib-1"}
    assert store.reopen([], "nothing") == 0
    assert store.reopen([ids["sys-libs/base-1"], ids["dev-libs/lib-1"], ids["sys-libs/rt-1"]], "unblocked") == 2  # rt was not stuck
    session = store.get_session("s1")
    assert session is not None and session.state is SessionState.RUNNING and session.finished_at is None
    (base,) = store.find_packages("sys-libs/base", "s1")
    assert (base.state, base.reason, base.not_before, base.current_attempt) == (PackageState.NEEDED, "", 0.0, None)
    assert events(store, "package.reopened")[0].message == "2 packages back in the queue: unblocked"


def test_forget_failures_of_packages_or_of_a_drone(store: Store) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    for cpv in a:
        store.mark_failed(BuildResult(a[cpv], "d1", Outcome.FAILED), "oops")
    assert store.forget_failures([ids["sys-libs/base-1"]]) == 1
    assert store.failures(ids["sys-libs/base-1"]) == [] and len(store.failures(ids["sys-libs/rt-1"])) == 1
    assert store.forget_failures(drone="d2") == 0
    assert store.forget_failures() == 1


def test_in_flight_and_cancel(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    planned(store, "s2")
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    assert sorted(store.in_flight(session_id="s1")) == sorted(a.values()) and store.in_flight(session_id="s2") == []
    assert store.in_flight(package_ids=[ids["sys-libs/rt-1"]]) == [a["sys-libs/rt-1"]]
    assert store.cancel_session("s1", "by hand") and store.cancel_session("s1", "again") and not store.cancel_session("nope", "x")
    session = store.get_session("s1")
    assert session is not None and (session.state, session.error, session.finished_at) == (SessionState.CANCELLED, "by hand", clock.t)
    assert store.counts("s1").by_state == {"dispatched": 2, "cancelled": 3}  # in flight: taken back by the controller
    assert len(events(store, "session.cancelled")) == 1
    assert store.arches() == ["amd64"]  # s2 still runs
