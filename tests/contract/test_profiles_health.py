"""Contract: build profiles, snapshots and what a profile published; the fleet doctor's rows (ports ProfileStore, HealthStore)."""

from __future__ import annotations

from dataclasses import replace

from swarm_celery.domain.fleet import DroneCheck
from swarm_celery.domain.healing import DroneHealth, Ladder, Level
from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.domain.snapshots import Snapshot
from tests.contract.conftest import PLAN, Store, events, planned
from tests.contract.test_completion import dispatched
from tests.coordinator_kit import REQUEST, FakeClock

DESK = BuildProfile("desk", Mode.DISTRIBUTION, "amd64", REQUEST.gentoo_profile, ("/repo",), world=("app-misc/app",))


def test_profiles_are_created_changed_listed_and_deleted(store: Store) -> None:
    assert store.save_profile(DESK, create=True) and not store.save_profile(DESK, create=True)
    assert not store.save_profile(replace(DESK, name="ghost"), create=False)
    auto = replace(DESK, name="auto", auto_rebuild=True)
    assert store.save_profile(auto, create=True) and store.save_profile(replace(DESK, description="mine"), create=False)
    assert store.get_profile("desk") == replace(DESK, description="mine") and store.get_profile("nope") is None
    assert [p.name for p in store.list_profiles()] == ["auto", "desk"] and store.list_profiles(auto_rebuild_only=True) == [auto]
    assert store.delete_profile("auto") and not store.delete_profile("auto")
    assert [e.kind for e in events(store, "profile.")] == ["profile.created", "profile.created", "profile.changed", "profile.deleted"]


def test_running_session_and_what_a_profile_published(store: Store, clock: FakeClock) -> None:
    assert store.running_session("desk") == "" and store.published_plan("desk").packages == ()
    store.create_session("planning", REQUEST, simulated=True, build_profile="desk")
    assert store.running_session("desk") == "planning"
    store.fail_session("planning", "no")
    clock.t += 1
    published = {"sys-libs/base-1", "app-misc/tool-1"}
    planned(store, "s1", build_profile="desk", reused=frozenset(published))
    clock.t += 1
    newer = replace(PLAN, packages=tuple(replace(p, identity="v2") for p in PLAN.packages))
    planned(store, "s2", build_profile="desk", plan=newer, reused=frozenset({"app-misc/tool-1"}))
    assert store.running_session("desk") == "s2"
    plan = store.published_plan("desk")
    assert {(p.cpv, p.identity) for p in plan.packages} == {("sys-libs/base-1", "id-sys-libs/base-1"), ("app-misc/tool-1", "v2")}
    assert (plan.arch, plan.gentoo_profile, plan.merge_order) == ("amd64", REQUEST.gentoo_profile, ("app-misc/tool-1", "sys-libs/base-1"))


def test_snapshots_newest_first(store: Store) -> None:
    for i in range(3):
        store.add_snapshot(Snapshot(f"snap{i}", 100.0 + i, "/tree" if i else "/other", f"fp{i}", "0" * 64, f"/s/{i}.tar", 10, 1, "r"))
    assert [s.id for s in store.snapshots()] == ["snap2", "snap1", "snap0"]
    assert [s.id for s in store.snapshots("/tree", limit=1)] == ["snap2"]
    assert store.forget_snapshots(["snap1", "nope"]) == 1 and store.forget_snapshots([]) == 0
    assert [s.id for s in store.snapshots("/tree")] == ["snap2"]
    assert events(store, "tree.snapshot")[0].subject == "snap0"


def test_health_ladder_and_tree_hold(store: Store) -> None:
    ids = planned(store)
    dispatched(store, ids, "sys-libs/base-1")
    assert store.health("d1") == DroneHealth()
    health = DroneHealth(Ladder(Level(1), 10.0, 5.0), "restart failed", frozenset({"disk.low", "emerge.stuck"}), 3.0)
    store.save_health("d1", health)
    assert store.health("d1") == health
    assert store.set_tree_hold("d1", "tree is 3 days old") and not store.set_tree_hold("d1", "tree is 3 days old")
    assert store.tree_holds() == {"d1": "tree is 3 days old"} and store.health("d1") == health
    assert store.set_tree_hold("d1", "") and store.tree_holds() == {}
    assert [e.kind for e in events(store, "drone.tree")] == ["drone.tree_stale", "drone.tree_synced"]
    store.record_check(DroneCheck(name="d1", at=1.0, answered=True, reachable=False, error="no route"))
    store.register_drone(_drone())
    assert store.known_drones() == ["d9"]


def _drone():  # type: ignore[no-untyped-def]
    from tests.contract.conftest import drone
    return drone("d9")
