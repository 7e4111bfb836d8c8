"""A placement that sent nothing is not made again while nothing it looked at changes (services.dispatch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from swarm_celery.domain.migration import RunningBuild
from swarm_celery.domain.model import BuildRequest
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.records import DroneLoad, NewAttempt, ReadyPackage
from swarm_celery.services import dispatch
from swarm_celery.services.dispatch import HELD_RECHECK, Dispatcher
from tests.coordinator_kit import FakeClock


@dataclass
class Record:
    """Just what the dispatcher reads: a fast drone busy until 1015, a slow one idle, learned speeds."""

    clock: FakeClock
    ready: list[ReadyPackage] = field(default_factory=list)
    created: list[NewAttempt] = field(default_factory=list)

    def get_flag(self, name: str) -> str | None:
        return None

    def drone_loads(self, arch: str) -> list[DroneLoad]:
        now = self.clock.now()
        return [DroneLoad("fast", arch, 1, False, 0.0, now, ((995.0, 50.0),)), DroneLoad("slow", arch, 1, False, 0.0, now, ())]

    def speed_samples(self, arch: str) -> dict[str, list[tuple[float, float]]]:
        return {"fast": [(5.0, 10.0)] * 3, "slow": [(20.0, 10.0)] * 3}  # 0.4 and 1.6 of the swarm's median

    def pace_samples(self, arch: str) -> list[tuple[float, float]]:
        return []

    def ready_packages(self, arch: str, limit: int = 0) -> list[ReadyPackage]:
        return self.ready[:limit]

    def get_session(self, session_id: str) -> None:
        return None  # unknown sessions count as simulated

    def create_attempts(self, attempts: Sequence[NewAttempt]) -> None:
        self.created += attempts

    def running_builds(self, arch: str) -> list[RunningBuild]:
        return []  # what the fast drone runs has no record here: nothing to move


class Broker:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None:
        self.sent += [queue for _, queue in builds]

    def wake(self, arch: str, after_seconds: float) -> None:
        pass


def package(pid: int, expected: float) -> ReadyPackage:
    return ReadyPackage(pid, "s1", f"dev-libs/p{pid}-1", 10_000.0 - pid, expected, 0, pid, 0.0, frozenset())


@pytest.fixture
def placed(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times place() was called at."""
    calls: list[float] = []
    real = dispatch.place

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[2])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(dispatch, "place", counted)
    return calls


def test_a_held_package_is_placed_again_only_when_something_changes(placed: list[float]) -> None:
    clock = FakeClock(1000.0)
    record, broker = Record(clock, [package(1, 100.0)]), Broker()
    dispatcher = Dispatcher(record, broker, clock, SchedulerConfig())  # type: ignore[arg-type]
    assert dispatcher.dispatch("amd64") == 0  # held for the fast drone (free at 1015, done by 1055; the slow one: 1160)
    clock.t += 0.5
    assert dispatcher.dispatch("amd64") == 0 and placed == [1000.0]  # a heartbeat: nothing changed, not placed again
    record.ready.append(package(2, 1.0))  # something became ready: placed again, and the short one goes to the slow drone
    assert dispatcher.dispatch("amd64") == 1 and placed == [1000.0, 1000.5] and broker.sent == ["drone.slow"]


def test_a_held_package_is_looked_at_again_after_a_while_and_when_a_build_passes_its_expected_end(placed: list[float]) -> None:
    clock = FakeClock(1000.0)
    record = Record(clock, [package(1, 100.0)])
    dispatcher = Dispatcher(record, Broker(), clock, SchedulerConfig())  # type: ignore[arg-type]
    dispatcher.dispatch("amd64")
    clock.t += HELD_RECHECK
    dispatcher.dispatch("amd64")
    clock.t += 0.1
    dispatcher.dispatch("amd64")
    assert placed == [1000.0, 1000.0 + HELD_RECHECK]
    for t in (1014.0, 1014.5, 1015.0):  # at 1015 the fast drone's build reaches its expected end: it may overrun from then
        clock.t = t
        dispatcher.dispatch("amd64")
    assert placed[2:] == [1014.0, 1015.0]


class Learning(Record):
    """A third drone, new: no builds of its own yet."""

    reads: int = 0

    def drone_loads(self, arch: str) -> list[DroneLoad]:
        return [*super().drone_loads(arch), DroneLoad("new", arch, 1, False, 0.0, self.clock.now(), self.running_new)]

    running_new: tuple[tuple[float, float], ...] = ()

    def speed_samples(self, arch: str) -> dict[str, list[tuple[float, float]]]:
        self.reads += 1
        return super().speed_samples(arch)


def test_speeds_are_read_again_soon_only_when_a_drone_of_unknown_speed_finished_something() -> None:
    clock = FakeClock(1000.0)
    record = Learning(clock)
    dispatcher = Dispatcher(record, Broker(), clock, SchedulerConfig())  # type: ignore[arg-type]
    dispatcher.capacities("amd64", clock.now())
    for _ in range(5):  # the new drone idles: nothing it could have learned from
        clock.t += 1.0
        dispatcher.capacities("amd64", clock.now())
    assert record.reads == 1
    record.running_new = ((clock.t, 10.0),)  # it took a build (and will finish it): read again within half a second
    clock.t += 0.6
    dispatcher.capacities("amd64", clock.now())
    assert record.reads == 2
    clock.t += 4.0  # nothing new: the usual every 5 s
    dispatcher.capacities("amd64", clock.now())
    assert record.reads == 2
