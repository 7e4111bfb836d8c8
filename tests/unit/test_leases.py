"""The lease rules of stale-work reclaim."""

from __future__ import annotations

from swarm_celery.domain.leases import Lease, expired, lost_in_broker

NOW = 10_000.0


def lease(attempt: str, drone: str = "box1", started: bool = True, renewed: float = NOW - 10) -> Lease:
    return Lease(attempt, f"cat/{attempt}-1", drone, started, renewed)


def test_a_silent_drone_loses_everything_dispatched_to_it_started_or_not() -> None:
    found = expired([lease("a"), lease("b", started=False, renewed=NOW - 1)], {"box1": NOW - 200}, NOW, lease=90, offline_after=120)
    assert [r.attempt_id for r in found] == ["a", "b"]
    assert found[0].reason == "cat/a-1: drone box1 silent for 200 s (offline after 120 s)"


def test_a_long_build_that_keeps_heart_beating_is_never_reclaimed() -> None:
    hours = lease("gcc", renewed=NOW - 20)  # started 9 hours ago, renewed 20 s ago
    assert expired([hours], {"box1": NOW - 20}, NOW, lease=90, offline_after=120) == []


def test_a_build_the_live_drone_no_longer_names_is_reclaimed_after_its_lease() -> None:
    found = expired([lease("lost", renewed=NOW - 95)], {"box1": NOW - 5}, NOW, lease=90, offline_after=120)
    assert [(r.attempt_id, r.reason) for r in found] == [("lost", "cat/lost-1: its build on box1 sent no heartbeat for 95 s (lease 90 s)")]


def test_queued_work_on_a_live_drone_waits_however_long() -> None:
    assert expired([lease("queued", started=False, renewed=NOW - 5000)], {"box1": NOW - 1}, NOW, lease=90, offline_after=120) == []


def test_a_drone_never_heard_from() -> None:
    found = expired([lease("a", drone="ghost")], {}, NOW, lease=90, offline_after=120)
    assert found[0].reason == "cat/a-1: drone ghost never heard from (offline after 120 s)"


def test_a_queued_attempt_the_broker_lost_is_taken_back_at_the_second_census_that_misses_it() -> None:
    queued = [lease("kept", started=False), lease("gone", started=False), lease("running")]
    lost, suspects = lost_in_broker(queued, frozenset({"kept"}), frozenset())
    assert lost == [] and suspects == {"gone"}  # "running" started: the lease rules watch it, not the census
    lost, suspects = lost_in_broker(queued, frozenset({"kept"}), suspects)
    assert [(r.attempt_id, r.reason, r.drone_silent) for r in lost] == [
        ("gone", "cat/gone-1: its message to box1 is in no broker queue (the broker restarted or was flushed)", False)]
    assert suspects == frozenset()


def test_a_message_seen_again_clears_the_suspicion() -> None:
    queued = [lease("moving", started=False)]
    _, suspects = lost_in_broker(queued, frozenset(), frozenset())  # between a queue and a worker's hands
    lost, suspects = lost_in_broker(queued, frozenset({"moving"}), suspects)
    assert lost == [] and suspects == frozenset()
    lost, _ = lost_in_broker(queued, frozenset(), suspects)
    assert lost == []  # missing once more starts over
