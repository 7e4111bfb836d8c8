"""Operator controls (validation, JSON, atom matching), `explain` reasoning and the circuit-breaker knob: pure domain code."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from swarm_celery.domain.controls import Action, ControlRequest, matches_atom, validate
from swarm_celery.domain.explain import DroneAvailability, ExplainFacts, Explanation, explain, first_blockers
from swarm_celery.domain.model import PackageState
from swarm_celery.domain.policy import SchedulerConfig

N = PackageState.NEEDED
P = PackageState.PUBLISHED
B = PackageState.BUILDING

NEEDS_ATOM_MSG = "needs an ATOM (category/package or =category/package-version)"


# controls: validate ------------------------------------------------------------------------------------------------
# The smallest valid request of every action; the test below makes sure the table covers every Action.
MINIMAL = {
    Action.PAUSE: ControlRequest(Action.PAUSE),
    Action.RESUME: ControlRequest(Action.RESUME),
    Action.UNBLOCK: ControlRequest(Action.UNBLOCK, atom="dev-libs/foo"),
    Action.UNGROUND: ControlRequest(Action.UNGROUND, drone="nas"),
    Action.RESET: ControlRequest(Action.RESET, atom="=dev-libs/foo-1.2"),
    Action.REBALANCE: ControlRequest(Action.REBALANCE),
    Action.CLEAR_FAILURES: ControlRequest(Action.CLEAR_FAILURES),
    Action.RETRY_FAILURES: ControlRequest(Action.RETRY_FAILURES),
    Action.CANCEL: ControlRequest(Action.CANCEL, session="1a2b3c"),
}


def test_minimal_table_covers_every_action() -> None:
    assert set(MINIMAL) == set(Action)
    assert len(Action) == 9


VALID = [
    *MINIMAL.values(),
    ControlRequest(Action.PAUSE, drone="nas", request_id="r1"),
    ControlRequest(Action.RESUME, drone="nas"),
    ControlRequest(Action.UNBLOCK, atom="dev-libs/foo", session="5e5510"),
    ControlRequest(Action.RESET, atom="dev-libs/foo", session="5e5510", request_id="r2"),
    ControlRequest(Action.CLEAR_FAILURES, drone="nas"),
    ControlRequest(Action.RETRY_FAILURES, session="5e5510"),
]


@pytest.mark.parametrize("request_", VALID, ids=lambda r: f"{r.action}-{r.drone or '_'}-{r.session or '_'}-{r.atom or '_'}")
def test_valid_requests_are_returned_unchanged(request_: ControlRequest) -> None:
    assert validate(request_) is request_


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        # what an action needs
        (ControlRequest(Action.UNGROUND), "unground needs --drone NAME (see `build-swarm fleet`)"),
        (ControlRequest(Action.UNBLOCK), f"unblock {NEEDS_ATOM_MSG}"),
        (ControlRequest(Action.UNBLOCK, session="5e5510"), f"unblock {NEEDS_ATOM_MSG}"),
        (ControlRequest(Action.RESET), f"reset {NEEDS_ATOM_MSG}"),
        (ControlRequest(Action.CANCEL), "cancel needs --session ID (see `build-swarm history`)"),
        # --drone where it does not apply
        (ControlRequest(Action.UNBLOCK, atom="dev-libs/foo", drone="nas"), "unblock does not take --drone"),
        (ControlRequest(Action.RESET, atom="dev-libs/foo", drone="nas"), "reset does not take --drone"),
        (ControlRequest(Action.REBALANCE, drone="nas"), "rebalance does not take --drone"),
        (ControlRequest(Action.RETRY_FAILURES, drone="nas"), "retry_failures does not take --drone"),
        (ControlRequest(Action.CANCEL, session="5e5510", drone="nas"), "cancel does not take --drone"),
        # --session where it does not apply
        (ControlRequest(Action.PAUSE, session="5e5510"), "pause does not take --session"),
        (ControlRequest(Action.RESUME, session="5e5510"), "resume does not take --session"),
        (ControlRequest(Action.UNGROUND, drone="nas", session="5e5510"), "unground does not take --session"),
        (ControlRequest(Action.REBALANCE, session="5e5510"), "rebalance does not take --session"),
        (ControlRequest(Action.CLEAR_FAILURES, session="5e5510"), "clear_failures does not take --session"),
        # an ATOM where it does not apply
        (ControlRequest(Action.PAUSE, atom="dev-libs/foo"), "pause does not take an ATOM"),
        (ControlRequest(Action.RESUME, atom="dev-libs/foo"), "resume does not take an ATOM"),
        (ControlRequest(Action.UNGROUND, drone="nas", atom="dev-libs/foo"), "unground does not take an ATOM"),
        (ControlRequest(Action.REBALANCE, atom="dev-libs/foo"), "rebalance does not take an ATOM"),
        (ControlRequest(Action.CLEAR_FAILURES, atom="dev-libs/foo"), "clear_failures does not take an ATOM"),
        (ControlRequest(Action.RETRY_FAILURES, atom="dev-libs/foo"), "retry_failures does not take an ATOM"),
        (ControlRequest(Action.CANCEL, session="5e5510", atom="dev-libs/foo"), "cancel does not take an ATOM"),
        # precedence: what is missing is reported before what does not apply; then --drone, --session, ATOM
        (ControlRequest(Action.UNGROUND, session="5e5510", atom="dev-libs/foo"), "unground needs --drone NAME (see `build-swarm fleet`)"),
        (ControlRequest(Action.CANCEL, drone="nas"), "cancel needs --session ID (see `build-swarm history`)"),
        (ControlRequest(Action.RESET, drone="nas"), f"reset {NEEDS_ATOM_MSG}"),
        (ControlRequest(Action.REBALANCE, drone="nas", session="5e5510", atom="dev-libs/foo"), "rebalance does not take --drone"),
        (ControlRequest(Action.PAUSE, session="5e5510", atom="dev-libs/foo"), "pause does not take --session"),
    ],
)
def test_invalid_requests_say_what_is_wrong(request_: ControlRequest, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate(request_)
    assert str(caught.value) == message


# controls: JSON ----------------------------------------------------------------------------------------------------
def test_to_json_is_plain_strings() -> None:
    request = ControlRequest(Action.RESET, session="5e5510", atom="=dev-libs/foo-1.2", request_id="abc")
    assert request.to_json() == {"action": "reset", "drone": "", "session": "5e5510", "atom": "=dev-libs/foo-1.2", "request_id": "abc"}


@pytest.mark.parametrize("request_", VALID, ids=lambda r: f"{r.action}-{r.drone or '_'}-{r.session or '_'}-{r.atom or '_'}")
def test_from_json_round_trips_to_json(request_: ControlRequest) -> None:
    back = ControlRequest.from_json(dict(request_.to_json()))
    assert back == request_
    assert type(back.action) is Action


def test_from_json_defaults_missing_fields_to_empty() -> None:
    assert ControlRequest.from_json({"action": "cancel", "session": "5e5519"}) == ControlRequest(Action.CANCEL, session="5e5519")


def test_from_json_rejects_unknown_action() -> None:
    with pytest.raises(ValueError, match=r"^'explode' is not a valid Action$"):
        ControlRequest.from_json({"action": "explode"})


def test_from_json_rejects_missing_action() -> None:
    with pytest.raises(ValueError, match="names no action"):
        ControlRequest.from_json({"drone": "nas"})


def test_from_json_validates() -> None:
    with pytest.raises(ValueError) as caught:
        ControlRequest.from_json({"action": "cancel", "request_id": "r"})
    assert str(caught.value) == "cancel needs --session ID (see `build-swarm history`)"


# controls: matches_atom --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("atom", "cpv", "expected"),
    [
        ("dev-libs/foo", "dev-libs/foo-1.2-r3", True),
        ("dev-libs/foo", "dev-libs/foo-1.2", True),
        ("dev-libs/foo", "dev-libs/foo-2.0_rc1", True),
        ("dev-libs/foo", "dev-libs/foo-bar-1", False),
        ("dev-libs/foo", "dev-libs/foobar-1", False),
        ("dev-libs/foo", "sys-libs/foo-1.2", False),
        ("dev-libs/foo", "not a cpv", False),
        ("=dev-libs/foo-1.2", "dev-libs/foo-1.2", True),
        ("=dev-libs/foo-1.2", "dev-libs/foo-1.2-r3", False),
        ("=dev-libs/foo-1.2", "dev-libs/foo-1.20", False),
        ("=dev-libs/foo-1.2", "dev-libs/foo-1.3", False),
        ("=dev-libs/foo-1.2-r3", "dev-libs/foo-1.2-r3", True),
        ("=dev-libs/foo-1.2-r3", "dev-libs/foo-1.2", False),
        ("dev-libs/foo-1.2", "dev-libs/foo-1.2", True),  # a bare CPV: itself ...
        ("dev-libs/foo-1.2", "dev-libs/foo-1.2-r1", False),  # ... and nothing else
        ("dev-libs/foo-1.2-r3", "dev-libs/foo-1.2-r3", True),
    ],
)
def test_matches_atom(atom: str, cpv: str, expected: bool) -> None:
    assert matches_atom(atom, cpv) is expected


def test_exact_atom_with_r0_matches_the_unrevisioned_cpv() -> None:  # PMS: -r0 is the same version as no revision
    assert matches_atom("=dev-libs/foo-1.2-r0", "dev-libs/foo-1.2")
    assert matches_atom("=dev-libs/foo-1.2", "dev-libs/foo-1.2-r0")
    assert not matches_atom("=dev-libs/foo-1.2-r0", "dev-libs/foo-1.2-r1")


def test_null_json_fields_are_empty_not_none() -> None:
    request = ControlRequest.from_json({"action": "pause", "drone": None, "session": None})
    assert (request.drone, request.session) == ("", "")


# explain: first_blockers -------------------------------------------------------------------------------------------
def g(**edges: str) -> dict[str, frozenset[str]]:
    """Gates from keyword arguments: g(a="b c") means a waits for b and c."""
    return {k: frozenset(v.split()) for k, v in edges.items()}


def test_first_blockers_chain_returns_only_the_deepest_unpublished() -> None:
    gates = g(a="b", b="c", c="d", d="e")
    assert first_blockers("a", gates, {"b": N, "c": N, "d": B, "e": P}) == ["d"]


def test_first_blockers_diamond_names_the_shared_base_once() -> None:
    gates = g(a="b c", b="d", c="d")
    assert first_blockers("a", gates, {"b": N, "c": N, "d": N}) == ["d"]


def test_first_blockers_diamond_with_published_base_returns_both_arms_sorted() -> None:
    gates = g(a="c b", b="d", c="d")
    assert first_blockers("a", gates, {"b": N, "c": B, "d": P}) == ["b", "c"]


def test_first_blockers_mixed_depths_sorted() -> None:
    gates = g(a="z m", z="c", m="")
    assert first_blockers("a", gates, {"z": N, "c": N, "m": N}) == ["c", "m"]


def test_first_blockers_stops_at_published_links() -> None:
    gates = g(a="b", b="c", c="d")
    assert first_blockers("a", gates, {"b": N, "c": P, "d": N}) == ["b"]


def test_first_blockers_counts_unknown_states_as_unpublished() -> None:
    assert first_blockers("a", g(a="b", b="c"), {}) == ["c"]


def test_first_blockers_empty_when_nothing_unpublished_or_no_gates() -> None:
    assert first_blockers("a", g(a="b c"), {"b": P, "c": P}) == []
    assert first_blockers("x", g(a="b"), {"b": N}) == []


# explain: explain --------------------------------------------------------------------------------------------------
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`explain` prints local time: pin it to UTC so the expected strings are exact."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def facts(**overrides: object) -> ExplainFacts:
    base: dict[str, object] = {"cpv": "app-misc/app-1", "session": "s1", "state": N, "reason": "", "arch": "amd64", "now": T0}
    base.update(overrides)
    return ExplainFacts(**base)  # type: ignore[arg-type]


def test_explanation_to_json() -> None:
    assert Explanation("ready", "go", ("a", "b")).to_json() == {"code": "ready", "summary": "go", "details": ["a", "b"]}


def test_published_names_the_drone() -> None:
    assert explain(facts(state=P, attempt_drone="nas")) == Explanation("published", "published (built by nas)")
    assert explain(facts(state=P)) == Explanation("published", "published (built by a drone)")


def test_blocked_points_at_unblock() -> None:
    got = explain(facts(state=PackageState.BLOCKED, reason="failed on 2 drones (a, b)", gates=g(**{"app-misc/app-1": "x"})))
    assert got == Explanation("blocked", "blocked: failed on 2 drones (a, b)",
                              ("`build-swarm control unblock` puts it back in the queue",))


def test_skipped() -> None:
    got = explain(facts(state=PackageState.SKIPPED, reason="needs dev-libs/foo-1 (blocked)"))
    assert got == Explanation("skipped", "skipped: needs dev-libs/foo-1 (blocked)", ("unblock the package it needs to build it",))


@pytest.mark.parametrize("state", [PackageState.FAILED, PackageState.CANCELLED])
def test_failed_and_cancelled(state: PackageState) -> None:
    assert explain(facts(state=state, reason="session cancelled")) == Explanation(state.value, f"{state.value}: session cancelled")
    assert explain(facts(state=state)) == Explanation(state.value, f"{state.value}: no reason recorded")


@pytest.mark.usefixtures("utc")
def test_dispatched_and_building_name_drone_and_time() -> None:
    dispatched = explain(facts(state=PackageState.DISPATCHED, attempt_drone="nas", attempt_since=T0 - 60, dispatch_paused=True))
    assert dispatched == Explanation("dispatched", "dispatched to nas since 2023-11-14 22:12:20")
    building = explain(facts(state=B, attempt_drone="big", attempt_since=T0))
    assert building == Explanation("building", "building on big since 2023-11-14 22:13:20")
    assert explain(facts(state=B, attempt_drone="big")).summary == "building on big since -"


def test_built_is_in_flight() -> None:
    got = explain(facts(state=PackageState.BUILT, attempt_drone="nas"))
    assert got.code == "built"
    assert "nas" in got.summary


def test_waiting_for_dependencies_names_first_blocker_and_lists_unpublished_gates() -> None:
    gates = g(**{"app-misc/app-1": "dev-libs/lib-b-2 dev-libs/lib-a-1 dev-libs/done-1", "dev-libs/lib-a-1": "sys-libs/base-3",
                 "dev-libs/lib-b-2": "sys-libs/base-3"})
    states = {"dev-libs/lib-a-1": N, "dev-libs/lib-b-2": PackageState.READY, "dev-libs/done-1": P, "sys-libs/base-3": B}
    got = explain(facts(gates=gates, states=states, dispatch_paused=True, not_before=T0 + 100))
    assert got.code == "waiting_for_dependencies"
    assert got.summary == "waiting for 2 build dependencies to be published; first on the path: sys-libs/base-3 (building)"
    assert got.details == ("needs dev-libs/lib-a-1 (needed)", "needs dev-libs/lib-b-2 (ready)")


def test_waiting_shows_at_most_five_first_blockers_and_unknown_state_as_needed() -> None:
    deps = [f"dev-libs/d{i}-1" for i in range(7)]
    got = explain(facts(gates={"app-misc/app-1": frozenset(deps)}, states={deps[0]: PackageState.FAILED}))
    assert got.code == "waiting_for_dependencies"
    assert got.summary == ("waiting for 7 build dependencies to be published; first on the path: dev-libs/d0-1 (failed), "
                           "dev-libs/d1-1 (ready, waiting for a drone), dev-libs/d2-1 (ready, waiting for a drone), "
                           "dev-libs/d3-1 (ready, waiting for a drone), dev-libs/d4-1 (ready, waiting for a drone)")
    assert len(got.details) == 7
    assert got.details[0] == "needs dev-libs/d0-1 (failed)"
    assert got.details[6] == "needs dev-libs/d6-1 (needed)"


def test_published_gates_do_not_hold_it_back() -> None:
    got = explain(facts(gates=g(**{"app-misc/app-1": "dev-libs/x-1"}), states={"dev-libs/x-1": P}, drones=(DroneAvailability("nas", free=1),)))
    assert got.code == "ready"


def test_paused_wins_over_backoff_and_placement() -> None:
    got = explain(facts(dispatch_paused=True, not_before=T0 + 100))
    assert got == Explanation("paused", "ready, but dispatch is paused (`build-swarm control resume`)")


@pytest.mark.usefixtures("utc")
def test_backoff_says_until_when_and_why() -> None:
    got = explain(facts(not_before=T0 + 600, reason="compile failed on nas", drones=(DroneAvailability("nas", free=1),)))
    assert got == Explanation("backoff", "ready, retry after a failure not before 2023-11-14 22:23:20", ("compile failed on nas",))
    assert explain(facts(not_before=T0 + 1)).details == ()


def test_backoff_over_once_not_before_is_reached() -> None:
    assert explain(facts(not_before=T0, drones=(DroneAvailability("nas", free=1),))).code == "ready"


def test_no_drone() -> None:
    got = explain(facts(arch="arm64"))
    assert got == Explanation("no_drone", "ready, but no drone of arm64 has announced itself (start one: `build-swarm worker --role drone`)")


def test_all_drones_failed_lists_them_sorted() -> None:
    got = explain(facts(drones=(DroneAvailability("zeta", free=2), DroneAvailability("alpha", "paused")), failed_on=frozenset({"zeta", "alpha"})))
    assert got == Explanation("all_drones_failed", "ready, but every amd64 drone has failed it (alpha, zeta)",
                              ("`build-swarm control clear_failures` lets them try again",))


def test_no_online_drone_gives_each_eligible_drones_reason() -> None:
    drones = (DroneAvailability("a", free=3), DroneAvailability("b", "paused", free=1), DroneAvailability("c", "grounded for 120 s more"),
              DroneAvailability("d", "not heard from for 300 s"))
    got = explain(facts(drones=drones, failed_on=frozenset({"a"})))
    assert got.code == "no_online_drone"
    assert got.summary == "ready, but no amd64 drone that may build it takes work now"
    assert got.details == ("b: paused", "c: grounded for 120 s more", "d: not heard from for 300 s")


def test_ready_all_slots_busy() -> None:
    drones = (DroneAvailability("x"), DroneAvailability("off", "paused", free=4), DroneAvailability("y"), DroneAvailability("bad", free=2))
    got = explain(facts(drones=drones, failed_on=frozenset({"bad"}), rank=3600.4))
    assert got == Explanation("ready", "ready: every slot of x, y is busy; it goes when one frees (by remaining path: 3600 s)")


def test_ready_with_free_slot_names_only_free_usable_drones() -> None:
    drones = (DroneAvailability("x"), DroneAvailability("y", free=2), DroneAvailability("bad", free=2), DroneAvailability("off", "paused", free=1), DroneAvailability("z", free=1))
    got = explain(facts(drones=drones, failed_on=frozenset({"bad"}), rank=90.0))
    assert got == Explanation("ready", "ready: placed at the next dispatch on y, z (remaining path 90 s)")


# policy ------------------------------------------------------------------------------------------------------------
def test_grounds_after_eight_infrastructure_failures_by_default() -> None:
    config = SchedulerConfig()
    assert config.breaker_failures == 8
    assert [config.grounds(n) for n in (0, 1, 7, 8, 9, 50)] == [False, False, False, True, True, True]


def test_grounds_threshold_is_configurable() -> None:
    assert [SchedulerConfig(breaker_failures=2).grounds(n) for n in (1, 2)] == [False, True]


@pytest.mark.parametrize("threshold", [0, -1])
def test_zero_breaker_failures_never_grounds(threshold: int) -> None:
    config = SchedulerConfig(breaker_failures=threshold)
    assert [config.grounds(n) for n in (0, 1, 8, 1000)] == [False, False, False, False]
