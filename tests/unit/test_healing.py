"""The self-healing ladder's rules (domain.healing): which level next, grace, cooldowns, reset, reboot only for guests."""

from __future__ import annotations

import pytest

from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.healing import (
    HealingPolicy,
    Ladder,
    Level,
    next_level,
    recovered,
    silent,
    took,
)

POLICY = HealingPolicy(grace=60, cooldown=300)
T0 = 1_000_000.0


def test_an_answering_drone_is_left_alone() -> None:
    assert next_level(Ladder(), T0, POLICY) is None
    assert not Ladder().healing


def test_level_one_waits_out_the_grace_from_the_first_miss() -> None:
    ladder = silent(Ladder(), T0)
    assert silent(ladder, T0 + 30) == ladder  # a second miss keeps the first one's time
    assert next_level(ladder, T0 + 59, POLICY) is None
    assert next_level(ladder, T0 + 60, POLICY) == Level.RESTART


def test_the_ladder_climbs_one_level_per_cooldown_up_to_the_alert_then_stops() -> None:
    ladder, now, taken = silent(Ladder(), T0), T0 + 60, []
    for _ in range(4):
        level = next_level(ladder, now, POLICY)
        assert level is not None
        taken.append(level)
        ladder = took(ladder, level, now)
        assert next_level(ladder, now + 299, POLICY) is None  # the cooldown
        now += 300
    assert taken == [Level.RESTART, Level.HARD_RESTART, Level.REBOOT, Level.ALERT]
    assert next_level(ladder, now + 10_000, POLICY) is None  # alerted once; a human takes over


def test_recovery_resets_the_ladder() -> None:
    ladder = took(silent(Ladder(), T0), Level.HARD_RESTART, T0 + 400)
    assert ladder.healing
    assert recovered(ladder) == Ladder()
    again = silent(recovered(ladder), T0 + 1000)
    assert next_level(again, T0 + 1060, POLICY) == Level.RESTART


@pytest.mark.parametrize(("kind", "rebootable"), [("lxc", True), ("qemu", True), ("bare-metal", False)])
def test_only_guests_are_rebooted(kind: str, rebootable: bool) -> None:
    assert DroneHost(name="d", host="h", type=kind).rebootable is rebootable


def test_level_labels() -> None:
    assert [level.label for level in Level] == ["none", "restart", "hard-restart", "reboot", "alert"]
