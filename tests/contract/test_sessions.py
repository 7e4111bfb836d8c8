"""Contract: sessions and plans (ports SessionStore, PlanStore, SessionEnd)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.model import PackageState, SessionState
from tests.contract.conftest import GATES, PLAN, Store, events, pkg, planned
from tests.coordinator_kit import REQUEST, FakeClock


def test_a_new_session_is_planning_and_says_so(store: Store, clock: FakeClock) -> None:
    store.create_session("s1", REQUEST, simulated=True, priority=5, build_profile="desk", reuse=True)
    session = store.get_session("s1")
    assert session is not None
    assert (session.state, session.arch, session.gentoo_profile, session.simulated) == (SessionState.PLANNING, "amd64",
                                                                                        REQUEST.gentoo_profile, True)
    assert (session.build_profile, session.reuse, session.created_at, session.planned_at) == ("desk", True, clock.t, None)
    assert ResolveRequest.from_json(json.loads(session.request_json)) == REQUEST
    assert session.config_hash == REQUEST.config_hash()
    assert events(store) and events(store)[-1].kind == "session.created"
    assert "priority 5" in events(store)[-1].message and "profile desk (changes only)" in events(store)[-1].message
    assert store.get_session("nope") is None


def test_the_coordinator_says_whether_a_session_is_simulated(store: Store) -> None:
    store.create_session("s1", REQUEST, simulated=True)
    assert store.set_simulated("s1", False, "builds are real: this swarm builds with emerge")
    assert not store.set_simulated("s1", False, "again")  # no change, no event
    assert not store.set_simulated("nope", False, "no such session")
    session = store.get_session("s1")
    assert session is not None and session.simulated is False
    assert [e.message for e in events(store, "session.kind")] == ["builds are real: this swarm builds with emerge"]


def test_saving_a_plan_runs_the_session_with_pending_gates(store: Store, clock: FakeClock) -> None:
    ids = planned(store)
    session = store.get_session("s1")
    assert session is not None and session.state is SessionState.RUNNING and session.planned_at == clock.t
    by_cpv = {p.cpv: p for p in store.packages_in_state(list(PackageState), "s1")}
    assert set(by_cpv) == {p.cpv for p in PLAN.packages} and set(ids) == set(by_cpv)
    assert {cpv: p.pending for cpv, p in by_cpv.items()} == {"sys-libs/base-1": 0, "sys-libs/rt-1": 0, "dev-libs/lib-1": 2,
                                                              "app-misc/app-1": 2, "app-misc/tool-1": 0}
    assert all(p.state is PackageState.NEEDED and p.expected == 10.0 for p in by_cpv.values())
    assert [by_cpv[c].merge_index for c in PLAN.merge_order] == [0, 1, 2, 3, 4]
    assert by_cpv["dev-libs/lib-1"].rank == 2.0 and by_cpv["dev-libs/lib-1"].use == ("ssl",)
    assert store.session_gates("s1") == GATES
    assert store.counts("s1").by_state == {"needed": 5}
    assert events(store, "session.planned")[0].message == "5 packages, 0 edges dropped as cycle breaks"


def test_a_package_knows_its_planned_slot_bindings(store: Store) -> None:
    bound = replace(pkg("app-misc/app-1"), slot_deps=("dev-libs/lib:0/2",))
    store.create_session("s1", REQUEST, simulated=False)
    store.save_plan("s1", replace(PLAN, packages=(bound,), merge_order=(bound.cpv,)), {}, {}, {})
    (found,) = store.packages_in_state(list(PackageState), "s1")
    assert found.slot_deps == ("dev-libs/lib:0/2",)  # what publication checks the built package's := bindings against


def test_reused_packages_are_published_and_gate_nothing(store: Store) -> None:
    planned(store, reused=frozenset({"sys-libs/base-1", "sys-libs/rt-1"}))
    by_cpv = {p.cpv: p for p in store.packages_in_state(list(PackageState), "s1")}
    assert by_cpv["sys-libs/base-1"].state is PackageState.PUBLISHED and by_cpv["dev-libs/lib-1"].pending == 0
    assert by_cpv["app-misc/app-1"].pending == 1  # still waits for lib, which is built
    assert "2 published already with the same identity" in events(store, "session.planned")[0].message


def test_a_package_planned_twice_is_refused(store: Store) -> None:
    store.create_session("s1", REQUEST, simulated=True)
    doubled = replace(PLAN, packages=(*PLAN.packages, pkg("sys-libs/base-1")))
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError on SQL, ValueError in memory: the plan is not half saved
        store.save_plan("s1", doubled, {}, {}, {})


def test_fail_and_finish(store: Store, clock: FakeClock) -> None:
    planned(store)
    store.finish_session("s1")
    session = store.get_session("s1")
    assert session is not None and session.state is SessionState.COMPLETE and session.finished_at == clock.t
    store.finish_session("s1")  # only a running session completes: idempotent, one event
    assert len(events(store, "session.complete")) == 1
    store.create_session("s2", REQUEST, simulated=False)
    store.fail_session("s2", "portage said no")
    failed = store.get_session("s2")
    assert failed is not None and (failed.state, failed.error, failed.simulated) == (SessionState.FAILED, "portage said no", False)
    assert events(store, "session.failed")[-1].session_id == "s2"


def test_counts_and_skips(store: Store) -> None:
    planned(store)
    assert store.skip_packages("s1", [], "nothing") == 0
    assert store.skip_packages("s1", ["dev-libs/lib-1", "app-misc/app-1", "not/there-1"], "needs base") == 2
    assert store.skip_packages("s1", ["dev-libs/lib-1"], "again") == 0  # only waiting packages are skipped
    counts = store.counts("s1")
    assert counts.by_state == {"needed": 3, "skipped": 2} and counts.planned == 5 and not counts.finished
    assert events(store, "package.skipped")[0].message == "2 packages: needs base"
    assert store.counts("nope").planned == 0 and store.session_gates("nope") == {}
