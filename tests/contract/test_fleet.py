"""Contract: drones, flags and leases (ports FleetStore, LeaseStore, DispatchStore.drone_loads)."""

from __future__ import annotations

from swarm_celery.domain.leases import Reclaim
from swarm_celery.domain.model import AttemptState, BuildResult, Outcome, PackageState
from swarm_celery.domain.records import StartReport
from tests.contract.conftest import Store, drone, events, planned
from tests.contract.test_completion import dispatched
from tests.coordinator_kit import FakeClock


def test_a_drone_joins_changes_and_leaves(store: Store, clock: FakeClock) -> None:
    store.register_drone(drone("d1", tree_timestamp="t1", gentoo_profile="p1", paused=True))
    store.register_drone(drone("d1", tree_timestamp="t1", gentoo_profile="p1"))  # nothing changed: no event
    store.register_drone(drone("d1", slots=4, tree_timestamp="t2", gentoo_profile="p1", builder="emerge"))
    assert [e.kind for e in events(store, "drone.")] == ["drone.joined", "drone.paused", "drone.changed", "drone.tree"]
    assert events(store, "drone.tree")[0].message == "d1: tree t2, profile p1 (was t1, p1)"
    (load,) = store.drone_loads("amd64")
    assert (load.name, load.slots, load.paused, load.grounded_until, load.last_seen, load.held) == ("d1", 4, True, 0.0, clock.t, "")
    assert load.builder == "emerge"  # what it builds with: the dispatcher gives it only sessions of that kind
    store.drone_offline("d1", "silent")
    store.drone_offline("d1", "silent")
    assert store.drone_loads("amd64") == [] and len(events(store, "drone.offline")) == 1
    store.touch_drone("d1", "amd64")  # a report brings it back
    store.touch_drone("d9", "arm64")  # a report naming a drone never seen does not make it one (only a hello does)
    store.touch_drone("d1", "arm64")  # nor does one naming another arch move it
    assert [(d.name, d.arch) for d in store.drone_loads("amd64")] == [("d1", "amd64")] and store.drone_loads("arm64") == []
    assert [e.subject for e in events(store, "drone.joined")] == ["d1"]
    assert store.arches() == ["amd64"]


def test_pause_ground_and_lift(store: Store, clock: FakeClock) -> None:
    store.register_drone(drone("d1"))
    store.register_drone(drone("d2", arch="arm64"))
    assert store.set_drone_paused("d1", True) and store.set_drone_paused("d1", True) and not store.set_drone_paused("nope", True)
    assert [e.kind for e in events(store, "drone.paused")] == ["drone.paused"]
    assert store.set_grounded("d1", clock.t + 10, "too many failures") and not store.set_grounded("nope", 1.0, "x")
    assert store.set_grounded("d2", clock.t + 20, "too many failures")
    assert store.grounded_until("d1") == clock.t + 10 and store.grounded_until("nope") == 0.0
    assert store.expired_groundings(clock.t + 15) == [("d1", "amd64")]
    assert store.expired_groundings(clock.t + 30) == [("d1", "amd64"), ("d2", "arm64")]
    store.set_grounded("d1", 0.0, "lifted")
    assert store.expired_groundings(clock.t + 30) == [("d2", "arm64")]
    assert events(store, "drone.ungrounded")[0].message == "d1: lifted"
    assert (store.drone_arch("d2"), store.drone_arch("nope")) == ("arm64", "")


def test_infrastructure_failures_in_the_window(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1", "app-misc/tool-1")
    store.mark_failed(BuildResult(a["sys-libs/base-1"], "d1", Outcome.FAILED, finished_at=900.0), "disk", "disk", infrastructure=True)
    store.mark_failed(BuildResult(a["sys-libs/rt-1"], "d1", Outcome.FAILED, finished_at=990.0), "disk", "disk", infrastructure=True)
    store.mark_failed(BuildResult(a["app-misc/tool-1"], "d1", Outcome.FAILED, finished_at=995.0), "compile", "compile")
    assert store.infrastructure_failures("d1", 950.0) == 1 and store.infrastructure_failures("d1", 0.0) == 2
    assert store.forget_failures(drone="d1") == 3
    assert store.infrastructure_failures("d1", 0.0) == 0


def test_flags(store: Store) -> None:
    assert store.get_flag("paused") == ""
    assert store.set_flag("paused", "1") and not store.set_flag("paused", "1")
    assert store.get_flag("paused") == "1"
    assert store.set_flag("paused", "") and store.get_flag("paused") == ""


def test_leases_renew_and_reclaim(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    store.mark_started_many([StartReport(a["sys-libs/base-1"], "d1", "amd64", clock.t + 1)])
    clock.t += 50
    assert store.renew_leases("d1", [a["sys-libs/base-1"], "unknown"]) == 1
    assert store.renew_leases("d2", [a["sys-libs/rt-1"]]) == 0  # not its attempt
    assert store.renew_leases("d1", []) == 0
    leases, seen = store.leases()
    by_id = {lease.attempt_id: lease for lease in leases}
    assert (by_id[a["sys-libs/base-1"]].started, by_id[a["sys-libs/base-1"]].renewed_at) == (True, clock.t)
    assert (by_id[a["sys-libs/rt-1"]].started, by_id[a["sys-libs/rt-1"]].renewed_at, by_id[a["sys-libs/rt-1"]].drone) == (False, 1000.0, "d1")
    assert seen == {"d1": 1000.0}
    assert store.reclaim_attempts([Reclaim(a["sys-libs/rt-1"], "d1", "lease expired", True), Reclaim("unknown", "d1", "x", False)]) == 1
    assert store.reclaim_attempts([Reclaim(a["sys-libs/rt-1"], "d1", "again", True)]) == 0  # stale already
    attempt = store.get_attempt(a["sys-libs/rt-1"])
    assert attempt is not None and (attempt.state, attempt.error) == (AttemptState.STALE, "reclaimed: lease expired")
    (rt,) = store.find_packages("sys-libs/rt", "s1")
    assert (rt.state, rt.reason) == (PackageState.NEEDED, "reclaimed: lease expired")
    assert [lease.attempt_id for lease in store.leases()[0]] == [a["sys-libs/base-1"]]
    assert [(e.session_id, e.subject) for e in events(store, "attempt.reclaimed")] == [("s1", a["sys-libs/rt-1"])]


def test_drone_loads_count_what_is_in_flight_and_holds(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    store.register_drone(drone("d1"))
    a = dispatched(store, ids, "sys-libs/base-1", "sys-libs/rt-1")
    store.mark_started_many([StartReport(a["sys-libs/base-1"], "d1", "amd64", 1003.0)])
    store.set_tree_hold("d1", "tree 3 days old")
    (load,) = store.drone_loads("amd64")
    assert sorted(load.running) == [(1000.0, 10.0), (1003.0, 10.0)] and load.held == "tree 3 days old"
