"""Whether builds are real is a property of the swarm: the coordinator marks each session, a drone gets only sessions
of its kind, real builds carry their plan's configuration hash; a grounding is announced once."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.services.explain import Explainer
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import World, failure, identity


@dataclass
class FakeConfigs:
    published: list[ResolveRequest] = field(default_factory=list)

    def publish(self, request: ResolveRequest) -> str:
        self.published.append(request)
        return "c0ffee" * 4


def swarm_of_kind(world: World, simulated: bool) -> FakeConfigs:
    """The coordinator of a swarm that simulates (or not), with a real and a simulating drone; session s1 was queued by
    someone who said the opposite."""
    configs = FakeConfigs()
    world.coordinator = Coordinator(world.store, world.resolver, world.dispatcher, world.publisher, prior=Durations({}),
                                    clock=world.clock, simulated=simulated, configs=configs)
    world.store.register_drone(replace(identity("drone-1"), builder="simulate"))
    world.store.register_drone(replace(identity("real-1"), builder="emerge"))
    world.store.set_simulated("s1", not simulated, "as the queuer said")
    return configs


def kind_events(world: World) -> list[str]:
    return [e.message for e in Queries(world.store.engine).events("s1") if e.kind == "session.kind"]


def test_a_real_swarm_builds_every_session_for_real_on_real_drones_only(world: World) -> None:
    configs = swarm_of_kind(world, simulated=False)
    world.coordinator.plan("s1")
    session = world.store.get_session("s1")
    assert session is not None and session.simulated is False  # the coordinator's say, not the queuer's
    assert kind_events(world)[-1].startswith("builds are real: this swarm's coordinator runs SWARM_BUILDER=emerge")
    sent = world.dispatcher.sent
    assert len(sent) == 3 and {queue for _, queue in sent} == {"drone.real-1"}  # the simulating drone gets none of it
    assert {r.config_hash for r, _ in sent} == {"c0ffee" * 4}
    assert len(configs.published) == 1 and configs.published[0].gentoo_profile == "default/linux/amd64/23.0/systemd"


def test_a_simulating_swarm_never_sends_work_to_a_real_drone_and_sends_no_configuration(world: World) -> None:
    configs = swarm_of_kind(world, simulated=True)
    world.coordinator.plan("s1")
    assert {queue for _, queue in world.dispatcher.sent} == {"drone.drone-1"}
    assert {r.config_hash for r, _ in world.dispatcher.sent} == {""} and configs.published == []
    assert "SIMULATED" in kind_events(world)[-1]


def test_a_real_session_waits_while_no_real_drone_is_there(world: World) -> None:
    swarm_of_kind(world, simulated=False)
    world.store.drone_offline("real-1", "gone")
    world.coordinator.plan("s1")
    assert world.dispatcher.sent == []  # never to the simulating drone-1, however idle
    world.store.touch_drone("real-1", "amd64")
    assert world.coordinator.dispatch("amd64") == 3


def test_explain_says_why_a_simulating_drone_does_not_take_a_real_sessions_package(world: World) -> None:
    swarm_of_kind(world, simulated=False)
    world.store.drone_offline("real-1", "gone")
    world.coordinator.plan("s1")
    (_, why), = Explainer(world.store, world.clock, SchedulerConfig()).explain("sys-libs/base", "s1")
    assert why.summary == "ready, but no amd64 drone that may build it takes work now"
    assert why.details == ("drone-1: it builds with simulate, and this session's builds are real (SWARM_BUILDER=emerge on the "
                           "coordinator): start drones with SWARM_BUILDER=emerge",)


def test_a_drone_grounded_already_is_not_grounded_again_by_its_late_failures(world: World) -> None:
    world.reconfigure(breaker_failures=2)
    world.coordinator.plan("s1")
    sent = world.dispatcher.take()
    for request in sent:  # all three running when the failures come in
        world.coordinator.build_started(request.attempt_id, "drone-1", "amd64", world.clock.t)
    for request in sent:  # the third report arrives a second after the grounding
        world.coordinator.build_finished(replace(failure(request, "drone-1"), log_tail="No space left on device"))
        world.clock.t += 1
    grounded = [e for e in Queries(world.store.engine).events(None) if e.kind == "drone.grounded"]
    assert len(grounded) == 1, [e.message for e in grounded]
    assert grounded[0].message.startswith("drone-1: 2 infrastructure failures in 1800 s")


def test_the_setting_is_read_by_the_composition_root(tmp_path: Path) -> None:
    from swarm_celery.settings import Settings

    assert Settings().builder == "emerge"  # real unless the demo (or SWARM_BUILDER=simulate) says otherwise
    assert Settings.from_env({"SWARM_BUILDER": "simulate"}).builder == "simulate"
