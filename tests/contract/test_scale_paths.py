"""Contract: the bounded reads the coordinator does per report (session end, skipping dependents, learning windows)
agree with the whole-session reads they replace, on every store."""

from __future__ import annotations

import random

import pytest

from swarm_celery.domain.graph import dependents_closure
from swarm_celery.domain.model import BuildResult, Outcome, PackageState, Plan
from swarm_celery.domain.records import NewAttempt, PublishedArtifact
from swarm_celery.store.dispatch_repo import SPEED_WINDOW
from tests.contract.conftest import GATES, Store, drone, events, pkg, planned
from tests.coordinator_kit import REQUEST, FakeClock

# a chain with a fork: a <- b <- c, b <- d (build), e stands alone; c also needs e at run time
CHAIN = Plan(packages=(pkg("x/a-1"), pkg("x/e-1"), pkg("x/b-1", build=("x/a-1",)), pkg("x/c-1", build=("x/b-1",), run=("x/e-1",)),
                       pkg("x/d-1", build=("x/b-1",))),
             merge_order=("x/a-1", "x/e-1", "x/b-1", "x/c-1", "x/d-1"), arch="amd64")
CHAIN_GATES = {"x/b-1": frozenset({"x/a-1"}), "x/c-1": frozenset({"x/b-1", "x/e-1"}), "x/d-1": frozenset({"x/b-1"})}


def _chain(store: Store) -> dict[str, int]:
    store.create_session("s2", REQUEST, simulated=True)
    store.save_plan("s2", CHAIN, CHAIN_GATES, {p.cpv: 10.0 for p in CHAIN.packages}, {p.cpv: 1.0 for p in CHAIN.packages})
    return {p.cpv: p.id for p in store.packages_in_state(list(PackageState), "s2")}


def test_skipping_dependents_walks_the_gates_up_from_the_package(store: Store) -> None:
    ids = _chain(store)
    planned(store)  # another session: untouched
    store.skip_packages("s2", ["x/d-1"], "by hand")  # not waiting any more: stays as it is
    assert store.skip_dependents(ids["x/a-1"], "needs x/a-1, which is blocked") == 2
    states = {p.cpv: p.state for p in store.packages_in_state(list(PackageState), "s2")}
    assert states == {"x/a-1": PackageState.NEEDED, "x/e-1": PackageState.NEEDED, "x/b-1": PackageState.SKIPPED,
                      "x/c-1": PackageState.SKIPPED, "x/d-1": PackageState.SKIPPED}
    assert {p.cpv for p in store.packages_in_state([PackageState.SKIPPED], "s2")} == dependents_closure("x/a-1", CHAIN_GATES)
    assert events(store, "package.skipped")[-1].message == "2 packages: needs x/a-1, which is blocked"
    assert events(store, "package.skipped")[-1].session_id == "s2"
    assert store.counts("s1").get(PackageState.SKIPPED) == 0
    before = len(events(store))
    assert store.skip_dependents(ids["x/d-1"], "nothing needs it") == 0 and store.skip_dependents(99999, "no such package") == 0
    assert len(events(store)) == before  # no dependents, no event


def test_skipping_dependents_counts_only_what_was_still_waiting(store: Store) -> None:
    ids = planned(store)
    assert store.skip_dependents(ids["sys-libs/base-1"], "needs base") == len(dependents_closure("sys-libs/base-1", GATES)) == 2
    assert store.skip_dependents(ids["sys-libs/rt-1"], "needs rt") == 0  # its dependents were skipped already
    assert [e.message for e in events(store, "package.skipped")] == ["2 packages: needs base", "0 packages: needs rt"]
    assert {p.cpv for p in store.packages_in_state([PackageState.SKIPPED], "s1")} == {"dev-libs/lib-1", "app-misc/app-1"}


@pytest.mark.parametrize("seed", range(3))
def test_session_finished_agrees_with_the_full_count_after_random_transitions(store: Store, clock: FakeClock, seed: int) -> None:
    rng = random.Random(seed)
    assert not store.session_finished("s1")  # no such session: nothing planned
    ids = planned(store)
    moves = [lambda pid: store.block_package(pid, "blocked"), lambda pid: store.requeue(pid, 0.0, "again"),
             lambda pid: store.skip_packages("s1", [cpv_of[pid]], "skip"), lambda pid: store.skip_dependents(pid, "dependents")]
    cpv_of = {pid: cpv for cpv, pid in ids.items()}
    for _ in range(30):
        rng.choice(moves)(rng.choice(list(ids.values())))
        assert store.session_finished("s1") == store.counts("s1").finished
    for pid in ids.values():
        store.block_package(pid, "end")
    assert store.session_finished("s1") and store.counts("s1").finished


def test_speed_samples_keep_each_drones_latest_window_only(store: Store, clock: FakeClock) -> None:
    packages = tuple(pkg(f"x/p{i}-1") for i in range(SPEED_WINDOW + 5))
    plan = Plan(packages=packages, merge_order=tuple(p.cpv for p in packages), arch="amd64")
    store.create_session("s3", REQUEST, simulated=True)
    store.save_plan("s3", plan, {}, {p.cpv: 10.0 for p in packages}, {p.cpv: 1.0 for p in packages})
    store.register_drone(drone("d1"))
    infos = store.packages_in_state([PackageState.NEEDED], "s3")
    for i, info in enumerate(sorted(infos, key=lambda p: p.cpv)):
        clock.t += 1
        store.create_attempts([NewAttempt(f"a{i}", info.id, "drone.d1", "d1", 10.0)])
        context = store.attempt_contexts([f"a{i}"])[f"a{i}"]
        result = BuildResult(f"a{i}", "d1", Outcome.SUCCESS, finished_at=clock.t, started_at=clock.t - 1, build_seconds=float(i + 1))
        store.mark_published_many([(result, PublishedArtifact("x", "0" * 64, 1), context[1])])
    samples = store.speed_samples("amd64")["d1"]
    assert samples == [(float(i + 1), 10.0) for i in reversed(range(5, SPEED_WINDOW + 5))]  # newest first, the window only
    assert len(store.pace_samples("amd64")) == SPEED_WINDOW + 5
