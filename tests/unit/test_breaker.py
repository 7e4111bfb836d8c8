"""The circuit breaker: a grounded drone stops consuming, its queued work moves, and the grounding is lifted again."""

from __future__ import annotations

from dataclasses import replace

from swarm_celery.domain.controls import Action, ControlRequest
from swarm_celery.domain.model import AttemptState, BuildRequest
from swarm_celery.services.control import Controller
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import World, failure, identity

QUEUES = {"build.amd64", "drone.drone-1"}


def ground_drone_1(world: World) -> list[BuildRequest]:
    """Two infrastructure failures on drone-1 (the threshold is 2 here); returns what drone-1 had queued then."""
    world.reconfigure(breaker_failures=2)
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()
    assert len(sent) == 3, "drone-1 should have work queued beyond the two builds that fail"
    world.dispatcher.consuming["drone-1"] = set(QUEUES)
    for request in sent[:2]:
        world.coordinator.build_finished(replace(failure(request, "drone-1"), log_tail="No space left on device"))
    return sent[2:]


def events(world: World, kind: str) -> list[str]:
    return [str(e.message) for e in Queries(world.store.engine).events(None) if e.kind == kind]


def test_grounding_cancels_the_drones_consumers_and_places_its_queued_work_elsewhere(world: World) -> None:
    world.store.register_drone(identity("drone-2", slots=1))
    queued = ground_drone_1(world)
    assert world.dispatcher.consuming["drone-1"] == set()  # cancel_consumer for build.amd64 and drone.drone-1
    assert {r.attempt_id for r in queued} <= set(world.dispatcher.revoked)
    for request in queued:
        attempt = world.store.get_attempt(request.attempt_id)
        assert attempt is not None and attempt.state is AttemptState.STALE
        assert attempt.error == "drone-1 was grounded before it started this build"
    assert {q for _, q in world.dispatcher.sent} == {"drone.drone-2"}  # placed again, on the drone that is not grounded
    (message,) = events(world, "drone.grounded")
    assert message == ("drone-1: 2 infrastructure failures in 1800 s; lifted after 300 s "
                       "or by `build-swarm control unground --drone drone-1`")


def test_the_grounding_is_lifted_by_beat_once_it_ran_out_and_not_before(world: World) -> None:
    ground_drone_1(world)
    world.clock.t += 299
    world.store.touch_drone("drone-1", "amd64")
    assert world.coordinator.lift_groundings() == []
    assert world.dispatcher.consuming["drone-1"] == set()
    world.clock.t += 2
    world.store.touch_drone("drone-1", "amd64")
    world.dispatcher.take()
    assert world.coordinator.lift_groundings() == ["drone-1"]
    assert world.dispatcher.consuming["drone-1"] == QUEUES
    assert events(world, "drone.ungrounded") == ["drone-1: grounded for 300 s; it takes work again"]
    assert {q for _, q in world.dispatcher.sent} == {"drone.drone-1"}  # it gets work at once
    assert world.coordinator.lift_groundings() == []  # lifted once


def test_a_grounded_drone_that_restarts_is_told_again_to_stop_consuming(world: World) -> None:
    ground_drone_1(world)
    world.dispatcher.consuming["drone-1"] = set(QUEUES)  # a new worker consumes what its command line names
    world.coordinator.drone_hello(identity("drone-1"))
    assert world.dispatcher.consuming["drone-1"] == set()
    world.dispatcher.consuming["drone-2"] = {"drone.drone-2"}
    world.coordinator.drone_hello(identity("drone-2"))  # not grounded: left alone
    assert world.dispatcher.consuming["drone-2"] == {"drone.drone-2"}


def test_unground_and_clear_failures_by_hand_restart_consumption(world: World) -> None:
    ground_drone_1(world)
    controller = Controller(world.store, world.dispatcher, world.coordinator.dispatcher, world.clock)
    assert controller.apply(ControlRequest(Action.UNGROUND, drone="drone-1")) == "drone drone-1 may take work again"
    assert world.dispatcher.consuming["drone-1"] == QUEUES
    world.dispatcher.consuming["drone-1"] = set()
    controller.apply(ControlRequest(Action.CLEAR_FAILURES, drone="drone-1"))
    assert world.dispatcher.consuming["drone-1"] == QUEUES
    assert world.store.grounded_until("drone-1") == 0.0
