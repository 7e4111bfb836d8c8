"""A simulation that can be wrong: noise, bias, transient failures and drone speeds (domain.simulation), the
simulated builder that applies them, FIFO (domain.fifo) and the hindsight bound (domain.hindsight)."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.domain.durations import Durations
from swarm_celery.domain.failures import classify_failure
from swarm_celery.domain.fifo import fifo_place
from swarm_celery.domain.hindsight import Realized, hindsight
from swarm_celery.domain.migration import RunningBuild, calibrating, decisive, expected_end, may_move, moves
from swarm_celery.domain.model import BuildRequest
from swarm_celery.domain.scheduling import OVERRUN, Candidate, DroneCapacity, place
from swarm_celery.domain.simulation import Chaos, parse_speeds
from swarm_celery.drone.builders import SimulateBuilder
from swarm_celery.errors import BuildFailed

CPVS = [f"cat-{i % 7}/pkg{i}-1.{i}" for i in range(4000)]


def test_noise_is_log_normal_around_the_bias_and_the_same_for_the_same_seed() -> None:
    chaos = Chaos(noise=0.3, bias=1.5, seed=1)
    factors = [chaos.factor(c) for c in CPVS]
    assert factors == [Chaos(noise=0.3, bias=1.5, seed=1).factor(c) for c in CPVS]  # reproducible
    assert factors != [Chaos(noise=0.3, bias=1.5, seed=2).factor(c) for c in CPVS]  # another seed, another world
    logs = [math.log(f / 1.5) for f in factors]
    assert abs(statistics.median(factors) - 1.5) < 0.03
    assert abs(statistics.pstdev(logs) - 0.3) < 0.02
    assert Chaos(bias=2.0).factor("a/b-1") == 2.0 and Chaos().factor("a/b-1") == 1.0


def test_transient_failures_hit_about_p_of_first_tries_and_never_a_retry() -> None:
    chaos = Chaos(transient=0.05, seed=3)
    failing = [c for c in CPVS if chaos.fails_at(c, 0) is not None]
    assert 0.04 < len(failing) / len(CPVS) < 0.06
    assert all(chaos.fails_at(c, 1) is None for c in failing)
    assert all(0.0 < (chaos.fails_at(c, 0) or 0.0) < 1.0 for c in failing)
    assert all(Chaos().fails_at(c, 0) is None for c in CPVS[:100])


@pytest.mark.parametrize(("kwargs", "says"), [({"noise": -0.1}, "noise"), ({"noise": 3.5}, "noise"), ({"bias": 0.0}, "bias"),
                                              ({"transient": 1.0}, "transient"), ({"transient": -0.5}, "transient")])
def test_impossible_chaos_is_refused(kwargs: dict[str, float], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Chaos(**kwargs)


def test_drone_speeds_one_per_drone() -> None:
    assert parse_speeds("1,1,2,0.5", 4) == (1.0, 1.0, 2.0, 0.5)
    for text, drones, says in [("1,2", 3, "2 speed"), ("1,x", 2, "numbers"), ("1,0", 2, "between"), ("1,1000", 2, "between")]:
        with pytest.raises(ValueError, match=says):
            parse_speeds(text, drones)


def request(cpv: str, retry: int = 0) -> BuildRequest:
    return BuildRequest("a" * 32, "5e55", cpv, "amd64", "0", "gentoo", (), retry=retry)


def test_build_request_names_its_retry_and_refuses_a_bad_one() -> None:
    assert BuildRequest.from_json(request("a/b-1", 2).to_json()).retry == 2
    data = request("a/b-1").to_json()
    del data["retry"]
    assert BuildRequest.from_json(data).retry == 0  # a coordinator that does not say: a first try
    for bad in (-1, 1.5, "two", 10**9, None):
        with pytest.raises(ValueError, match="retry"):
            BuildRequest.from_json({**data, "retry": bad})


def test_the_simulated_builder_takes_the_real_time_and_fails_a_first_try_as_a_fetch(tmp_path: Path) -> None:
    chaos = Chaos(noise=0.3, bias=1.5, transient=0.5, seed=9)
    builder = SimulateBuilder(Durations({"cat-9/none": 100.0}, default=10.0), 0.0, speed=2.0, chaos=chaos)
    failing = next(c for c in CPVS if chaos.fails_at(c, 0) is not None)
    passing = next(c for c in CPVS if chaos.fails_at(c, 0) is None)
    out = builder.build(request(passing), tmp_path / "ok")
    assert out.build_seconds == pytest.approx(10.0 * chaos.factor(passing) * 2.0)
    with pytest.raises(BuildFailed) as failed:
        builder.build(request(failing), tmp_path / "first")
    found = classify_failure(failed.value.log_tail)
    assert found.kind.value == "fetch" and found.infrastructure
    assert builder.build(request(failing, retry=1), tmp_path / "again").build_seconds == pytest.approx(10.0 * chaos.factor(failing) * 2.0)


def cand(key: str, order: int, **kw: object) -> Candidate:
    return Candidate(key, rank=100.0 - order, weight=1.0, order=order, **kw)  # type: ignore[arg-type]


def test_fifo_takes_merge_order_to_the_freest_drone_ignoring_rank_and_speed() -> None:
    cands = [cand("late", 5, bump=0), cand("first", 1), cand("second", 2), cand("failed-on-a", 3, excluded=frozenset({"a"})),
             cand("waits", 0, not_before=50.0)]
    drones = [DroneCapacity("a", 1, speed=10.0), DroneCapacity("b", 2, speed=0.1)]
    placed = fifo_place(cands, drones, now=0.0)
    assert [(c.key, d) for c, d in placed.assignments] == [("first", "b"), ("second", "a"), ("failed-on-a", "b")]
    assert [c.key for c in placed.waiting_backoff] == ["waits"]
    everywhere = fifo_place([cand("x", 0, excluded=frozenset({"a", "b"}))], drones, now=0.0)
    assert [c.key for c in everywhere.no_drone] == ["x"] and not everywhere.assignments
    queued = fifo_place([cand("x", 0), cand("y", 1)], [DroneCapacity("a", 0, busy_until=(5.0,), lookahead=1)], now=0.0)
    assert [(c.key, d) for c, d in queued.assignments] == [("x", "a")]


def test_hindsight_bound_is_the_critical_path_on_the_fastest_drone_or_the_work_over_the_fleet() -> None:
    gates = {"b": frozenset({"a"}), "c": frozenset({"b"})}
    tries = [Realized("a", "slow", 20.0, True), Realized("b", "fast", 5.0, True), Realized("c", "fast", 5.0, False),
             Realized("c", "slow", 20.0, True)]
    slowdown = {"slow": 2.0, "fast": 0.5}
    seen = hindsight(gates, tries, slowdown, {"slow": 1, "fast": 1}, makespan=40.0)
    # base seconds: a 10, b 10, c 10 after a failed try of 10: on the fastest drone the chain is (10 + 10 + 20) × 0.5
    assert seen.critical_path == pytest.approx(20.0)
    assert seen.work_bound == pytest.approx(40.0 / (1 / 2.0 + 1 / 0.5))
    assert seen.bound == pytest.approx(20.0) and seen.ratio == pytest.approx(2.0)
    wide = hindsight(gates, tries, slowdown, {"slow": 1, "fast": 1, "other": 1}, makespan=15.0)
    assert wide.work_bound == pytest.approx(40.0 / 3.5)  # a drone not named counts at speed 1
    later = hindsight(gates, [*tries, Realized("c", "fast", 5.0, True)], slowdown, {"slow": 1, "fast": 1}, makespan=40.0)
    assert later.critical_path == seen.critical_path  # a build after the first success adds work, not path


def running(attempt: str, drone: str, weight: float, rank: float, started: float = 0.0, package: int = 0) -> RunningBuild:
    return RunningBuild(attempt, package or hash(attempt) % 1000, "5e55", f"cat/{attempt}-1", drone, started, weight, rank)


def test_a_long_build_on_a_slow_drone_moves_to_a_fast_idle_one_once() -> None:
    speed = {"slow": 2.0, "fast": 0.5, "new": 0.1}
    builds = [running("long", "slow", 100.0, 500.0, package=1), running("short", "slow", 2.0, 400.0, package=2)]
    found = moves(builds, {"fast": 1, "new": 1}, speed, known=frozenset({"slow", "fast"}), now=10.0)
    # ends at 200 on the slow drone, at 10 + 0.5 + 50 on the fast one; "new" is faster still but unproven; "short" gains too little
    assert [(m.build.attempt, m.source, m.target) for m in found] == [("long", "slow", "fast")]
    assert found[0].gain == pytest.approx(200.0 - 60.5)
    assert moves(builds, {"fast": 1}, speed, frozenset({"slow", "fast"}), now=10.0, moved=frozenset({1})) == []


def test_no_move_when_nearly_done_or_not_faster_or_no_idle_slot() -> None:
    speed = {"slow": 2.0, "fast": 0.5, "same": 2.0}
    known = frozenset(speed)
    nearly = running("nearly", "slow", 100.0, 500.0, started=-170.0)  # ends at 30: 20 s left, 50.5 s elsewhere
    assert moves([nearly], {"fast": 1}, speed, known, now=10.0) == []
    assert moves([running("x", "slow", 100.0, 1.0)], {"same": 1}, speed, known, now=10.0) == []
    assert moves([running("x", "slow", 100.0, 1.0)], {"fast": 0}, speed, known, now=10.0) == []
    assert expected_end(running("late", "slow", 10.0, 1.0), 2.0, now=40.0) == pytest.approx(40.0 + OVERRUN * 20.0)


def test_no_move_when_the_speed_difference_is_within_what_builds_stray_by() -> None:
    speed = {"slow": 1.6, "fast": 1.0}
    build = running("x", "slow", 100.0, 1.0)  # ends at 160 here, at 100.5 there: 59.5 s and 37 % sooner ...
    assert [m.target for m in moves([build], {"fast": 1}, speed, frozenset(speed), now=0.0, spread=0.3)] == ["fast"]
    assert moves([build], {"fast": 1}, speed, frozenset(speed), now=0.0, spread=0.5) == []  # ... but 1.6 < e^0.5: noise
    busy, idle = DroneCapacity("slow", 0, 1.6, (160.0,)), DroneCapacity("fast", 1, 1.0)
    assert may_move([busy, idle], {"fast": 1}, frozenset(speed), spread=0.3)
    assert not may_move([busy, idle], {"fast": 1}, frozenset(speed), spread=0.5)
    assert not may_move([busy, idle], {"fast": 1}, frozenset({"slow"}), spread=0.3)  # the idle drone's speed is not known
    assert not may_move([replace(busy, busy_until=()), idle], {"fast": 1}, frozenset(speed), spread=0.3)  # nothing runs
    assert not decisive(1.0, 1.0, 0.0) and decisive(1.01, 1.0, 0.0)


def test_the_longest_chains_move_first_and_each_idle_slot_takes_one() -> None:
    speed = {"slow": 2.0, "fast": 0.5}
    builds = [running("a", "slow", 100.0, 10.0, package=1), running("b", "slow", 100.0, 900.0, package=2)]
    found = moves(builds, {"fast": 1}, speed, frozenset(speed), now=0.0)
    assert [m.build.attempt for m in found] == ["b"]


def test_drones_of_unknown_speed_get_short_builds_first() -> None:
    cands = [Candidate("long", 900.0, weight=100.0), *(Candidate(f"s{i}", 10.0, weight=5.0) for i in range(4))]
    drones = [DroneCapacity("new-1", 1), DroneCapacity("new-2", 1), DroneCapacity("known", 1)]
    kept = {c.key: c.excluded for c in calibrating(cands, drones, known=frozenset({"known"}))}
    assert kept["long"] == frozenset({"new-1", "new-2"}) and kept["s0"] == frozenset()
    placed = place(calibrating(cands, drones, frozenset({"known"})), drones, now=0.0)
    assert dict((c.key, d) for c, d in placed.assignments)["long"] == "known"
    cold = place(calibrating(cands, drones, frozenset()), drones, now=0.0)  # nobody known: it waits a moment
    assert "long" not in {c.key for c, _ in cold.assignments} and len(cold.assignments) == 3
    few = [cands[0], cands[1]]  # too few short builds to keep the new drones busy: the long one takes one
    assert calibrating(few, drones, frozenset({"known"})) == few
    assert calibrating(cands, drones, frozenset({"new-1", "new-2", "known"})) == cands


def test_a_build_never_moves_to_a_drone_that_failed_it() -> None:
    speed = {"slow": 2.0, "fast": 0.5, "mid": 1.0}
    build = replace(running("x", "slow", 100.0, 1.0), excluded=frozenset({"fast"}))
    found = moves([build], {"fast": 1, "mid": 1}, speed, frozenset(speed), now=0.0)
    assert [(m.build.attempt, m.target) for m in found] == [("x", "mid")]
    assert moves([build], {"fast": 1}, speed, frozenset(speed), now=0.0) == []
