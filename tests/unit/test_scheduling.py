"""The pure scheduling policy: ranks, placement, slots, retries, speeds (domain.scheduling)."""

from __future__ import annotations

import math

import pytest

from swarm_celery.domain.durations import Durations
from swarm_celery.domain.scheduling import (
    Block,
    Candidate,
    DroneCapacity,
    FailedAttempt,
    Retry,
    RetryPolicy,
    after_failure,
    busy_until,
    critical_path,
    drone_speeds,
    expected_seconds,
    lower_bound,
    place,
    priority_order,
    remaining_paths,
    slots_for,
    swarm_pace,
    swarm_spread,
)

# a → b → d and a → c → d (b, c wait for a; d waits for b and c); e alone
GATES = {"b": frozenset({"a"}), "c": frozenset({"a"}), "d": frozenset({"b", "c"})}
WEIGHTS = {"a": 10.0, "b": 5.0, "c": 20.0, "d": 1.0, "e": 3.0}


def test_remaining_paths_are_the_longest_weighted_chain_to_the_end() -> None:
    assert remaining_paths(GATES, WEIGHTS) == {"a": 31.0, "b": 6.0, "c": 21.0, "d": 1.0, "e": 3.0}
    assert critical_path(GATES, WEIGHTS) == 31.0
    assert lower_bound(GATES, WEIGHTS, 1) == 39.0  # all the work on one drone
    assert lower_bound(GATES, WEIGHTS, 4) == 31.0  # the critical path


def test_a_cycle_in_the_gates_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        remaining_paths({"a": frozenset({"b"}), "b": frozenset({"a"})}, {"a": 1.0, "b": 1.0})


def test_expected_seconds_prefers_history_then_prior_then_default() -> None:
    prior = Durations({"dev-libs/foo": 100.0}, default=16.0)
    assert expected_seconds("dev-libs/foo-1.2-r1", {"dev-libs/foo": [30.0, 10.0, 20.0]}, prior) == 20.0
    assert expected_seconds("dev-libs/foo-1.2", {}, prior) == 100.0
    assert expected_seconds("dev-libs/bar-1", {}, prior) == 16.0


def test_priority_order_bump_beats_rank_and_merge_order_breaks_ties() -> None:
    cands = [Candidate("long", 100.0, order=5), Candidate("bumped", 1.0, bump=1, order=9),
             Candidate("tie-late", 50.0, order=7), Candidate("tie-early", 50.0, order=3)]
    assert [c.key for c in priority_order(cands)] == ["bumped", "long", "tie-early", "tie-late"]


def test_best_rank_goes_to_the_fastest_free_drone() -> None:
    drones = [DroneCapacity("slow", 1, speed=2.0), DroneCapacity("fast", 1, speed=0.5)]
    result = place([Candidate("small", 1.0, 1.0), Candidate("big", 9.0, 100.0)], drones, now=0.0)
    assert [(c.key, d) for c, d in result.assignments] == [("big", "fast"), ("small", "slow")]


def test_excluded_drones_are_skipped_and_backoff_waits() -> None:
    drones = [DroneCapacity("a", 1), DroneCapacity("b", 1)]
    cands = [Candidate("failed-on-both", 9.0, excluded=frozenset({"a", "b"})), Candidate("later", 8.0, not_before=50.0),
             Candidate("failed-on-a", 7.0, excluded=frozenset({"a"}))]
    result = place(cands, drones, now=10.0)
    assert [(c.key, d) for c, d in result.assignments] == [("failed-on-a", "b")]
    assert [c.key for c in result.no_drone] == ["failed-on-both"]
    assert [c.key for c in result.waiting_backoff] == ["later"]


def test_a_long_package_is_held_for_a_fast_drone_that_frees_soon() -> None:
    fast_busy = DroneCapacity("fast", 0, speed=1.0, busy_until=(12.0,))
    slow_free = DroneCapacity("slow", 1, speed=3.0)
    result = place([Candidate("gcc", 100.0, 100.0), Candidate("tiny", 1.0, 1.0)], [fast_busy, slow_free], now=10.0)
    assert [(c.key, d) for c, d in result.held] == [("gcc", "fast")]  # 12 + 100 beats 10 + 300
    assert [(c.key, d) for c, d in result.assignments] == [("tiny", "slow")]


def test_the_slow_free_drone_is_used_when_the_fast_one_is_busy_for_long() -> None:
    fast_busy = DroneCapacity("fast", 0, speed=1.0, busy_until=(500.0,))
    slow_free = DroneCapacity("slow", 1, speed=3.0)
    result = place([Candidate("gcc", 100.0, 100.0)], [fast_busy, slow_free], now=10.0)
    assert [(c.key, d) for c, d in result.assignments] == [("gcc", "slow")] and result.held == []


def test_a_package_in_backoff_keeps_the_slot_it_will_want() -> None:
    drones = [DroneCapacity("fast", 1, speed=1.0), DroneCapacity("slow", 1, speed=2.0)]
    cands = [Candidate("retry", 100.0, 50.0, not_before=10.0), Candidate("long", 50.0, 30.0), Candidate("short", 40.0, 5.0)]
    result = place(cands, drones, now=0.0)
    assert [c.key for c in result.waiting_backoff] == ["retry"]  # fast from 10 s: ends at 60, not 110
    # long would end at 30 on fast, past the retry's 10 s: it takes slow; short ends at 5, before the retry needs fast
    assert [(c.key, d) for c, d in result.assignments] == [("long", "slow"), ("short", "fast")]


def test_a_backoff_claim_yields_to_nothing_of_lower_rank_that_would_overrun_it() -> None:
    result = place([Candidate("retry", 100.0, 50.0, not_before=10.0), Candidate("long", 50.0, 30.0)],
                   [DroneCapacity("only", 1)], now=0.0)
    assert result.assignments == []
    assert [(c.key, d) for c, d in result.held] == [("long", "only")]  # after the retry: 10 + 50, then 30


def test_an_overdue_drone_is_expected_to_run_on_for_a_quarter_of_its_overrun() -> None:
    slow_free = DroneCapacity("slow", 1, speed=1.4)
    gcc = Candidate("gcc", 100.0, 100.0)
    just_late = place([gcc], [DroneCapacity("fast", 0, busy_until=(990.0,)), slow_free], now=1000.0)
    assert [(c.key, d) for c, d in just_late.held] == [("gcc", "fast")]  # frees at 1002.5: ends 1102.5 < 1000 + 140
    long_late = place([gcc], [DroneCapacity("fast", 0, busy_until=(600.0,)), slow_free], now=1000.0)
    assert [(c.key, d) for c, d in long_late.assignments] == [("gcc", "slow")]  # frees at 1100: ends 1200 > 1140


def test_lookahead_queues_behind_a_busy_slot_instead_of_holding() -> None:
    fast_busy = DroneCapacity("fast", 0, speed=1.0, busy_until=(12.0,), lookahead=1)
    slow_free = DroneCapacity("slow", 1, speed=3.0)
    result = place([Candidate("gcc", 100.0, 100.0), Candidate("next", 50.0, 50.0)], [fast_busy, slow_free], now=10.0)
    assert [(c.key, d) for c, d in result.assignments] == [("gcc", "fast"), ("next", "slow")]


def test_lookahead_queues_only_behind_a_slot_that_frees_within_the_horizon() -> None:
    cands = [Candidate("gcc", 100.0, 100.0), Candidate("next", 50.0, 50.0)]
    slow_free = DroneCapacity("slow", 1, speed=3.0)
    soon = place(cands, [DroneCapacity("fast", 0, busy_until=(10.2,), lookahead=1), slow_free], now=10.0, horizon=0.3)
    assert [(c.key, d) for c, d in soon.assignments] == [("gcc", "fast"), ("next", "slow")]
    later = place(cands, [DroneCapacity("fast", 0, busy_until=(12.0,), lookahead=1), slow_free], now=10.0, horizon=0.3)
    assert [(c.key, d) for c, d in later.held] == [("gcc", "fast")]  # held: placed again when something finishes
    assert [(c.key, d) for c, d in later.assignments] == [("next", "slow")]


def test_never_more_assignments_than_free_slots() -> None:
    cands = [Candidate(f"p{i}", float(i), 1.0) for i in range(10)]
    result = place(cands, [DroneCapacity("a", 2), DroneCapacity("b", 1)], now=0.0)
    assert len(result.assignments) == 3
    assert sorted(d for _, d in result.assignments) == ["a", "a", "b"]


@pytest.mark.parametrize(("cores", "per_slot", "limit", "configured", "slots"), [
    (16, 4, 0, 0, 4), (2, 4, 0, 0, 1), (32, 4, 8, 0, 2), (32, 4, 0, 3, 3), (7, 2, 0, 0, 3), (8, 0, 0, 0, 8),
])
def test_slots_for(cores: int, per_slot: int, limit: int, configured: int, slots: int) -> None:
    assert slots_for(cores, per_slot, limit, configured) == slots


def test_infrastructure_failures_never_block_and_retries_avoid_failed_drones() -> None:
    policy = RetryPolicy()
    failures = [FailedAttempt("a", True), FailedAttempt("b", True), FailedAttempt("c", True), FailedAttempt("d", True)]
    decision = after_failure(failures, policy, now=100.0)
    assert isinstance(decision, Retry)
    assert decision.excluded == frozenset({"a", "b", "c", "d"})
    assert decision.not_before == 100.0 + 60.0 * 27  # 60 s × 3³ after the fourth failure
    assert after_failure(failures[:1], policy, now=100.0) == Retry(100.0, frozenset({"a"}))  # a first one: elsewhere, at once
    assert after_failure(failures[:2], policy, now=100.0) == Retry(100.0 + 180.0, frozenset({"a", "b"}))


def test_backoff_is_60_then_180_then_540_seconds() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in (1, 2, 3)] == [60.0, 180.0, 540.0]


def test_package_failures_on_two_drones_block() -> None:
    decision = after_failure([FailedAttempt("a", False), FailedAttempt("b", False)], RetryPolicy(), now=0.0)
    assert decision == Block("failed on 2 drones (a, b)")


def test_package_failures_reaching_the_tries_block_even_on_one_drone() -> None:
    policy = RetryPolicy(tries=2, block_after_drones=5)
    decision = after_failure([FailedAttempt("a", False), FailedAttempt("a", False)], policy, now=0.0)
    assert decision == Block("failed 2 times (tries: 2)")
    first = after_failure([FailedAttempt("a", False)], RetryPolicy(), now=0.0)
    assert first == Retry(60.0, frozenset({"a"}))


def test_drone_speeds_need_three_samples_and_are_relative_to_the_swarm() -> None:
    samples = {
        "fast": [(5.0, 10.0), (10.0, 20.0), (2.0, 4.0)],  # half the expected time
        "slow": [(20.0, 10.0), (40.0, 20.0), (8.0, 4.0)],  # twice
        "mid": [(10.0, 10.0), (20.0, 20.0), (4.0, 4.0)],
        "new": [(100.0, 1.0)],  # too few to judge
    }
    speeds = drone_speeds(samples)
    assert speeds == {"fast": 0.5, "slow": 2.0, "mid": 1.0}
    assert drone_speeds({"a": [(10.0, 10.0)] * 2, "b": [(20.0, 10.0)] * 2}) == {}


def test_swarm_pace_is_the_median_wall_time_per_expected_second_once_there_are_five_builds() -> None:
    assert swarm_pace([(1.0, 100.0)] * 4) == 1.0  # too few: the weights are taken as wall seconds
    assert swarm_pace([(1.0, 100.0), (0.5, 50.0), (2.2, 200.0), (9.0, 100.0), (0.1, 10.0)]) == pytest.approx(0.01)
    assert swarm_pace([(1.0, 0.0), (0.0, 5.0)] * 3) == 1.0  # nothing usable
    assert swarm_pace([(30.0, 10.0)] * 5) == pytest.approx(3.0)  # small guests, slower than the table's machine


def test_drone_speed_is_the_mean_ratio_without_outliers() -> None:
    samples = {
        "noisy": [(10.0, 10.0), (12.0, 10.0), (14.0, 10.0), (100.0, 10.0)],  # 10× is a hung build: mean of 1.0, 1.2, 1.4
        "steady": [(10.0, 10.0)] * 3,
        "slow": [(20.0, 10.0)] * 3,
        "zero": [(5.0, 0.0)] * 5,  # no expected time: no samples
    }
    speeds = drone_speeds(samples)
    assert speeds == pytest.approx({"noisy": 1.0, "steady": 1.0 / 1.2, "slow": 2.0 / 1.2})  # swarm median ratio 1.2


def test_the_spread_is_how_far_builds_stray_once_the_drone_speed_is_out() -> None:
    steady = {"slow": [(20.0, 10.0)] * 5, "fast": [(5.0, 10.0)] * 5}  # different speeds, no noise
    assert swarm_spread(steady) == 0.0
    noisy = {"d": [(10.0 * math.exp(x), 10.0) for x in (-0.3, 0.3, -0.3, 0.3, 0.0, 0.0)]}
    assert swarm_spread(noisy) == pytest.approx(1.4826 * 0.3)
    assert swarm_spread({"d": [(10.0, 10.0), (20.0, 10.0)]}) == 0.0  # too few to say


def test_a_build_near_its_expected_end_is_not_taken_to_end_now() -> None:
    assert busy_until(0.0, 10.0, now=2.0, spread=0.3) == 10.0  # far from its end: its expected end
    assert busy_until(0.0, 10.0, now=9.0, spread=0.3) == pytest.approx(12.0)  # near it: a typical residual from now
    assert busy_until(0.0, 10.0, now=30.0, spread=0.3) == pytest.approx(35.0)  # long overrun: a quarter of it
    assert busy_until(0.0, 10.0, now=9.0, spread=0.0) == 10.0  # exact builds end when expected
