"""When a batch of reports is taken: a lone report after the quiet window, a stream of reports once the first has
lingered long enough (the timer is Celery's; here a clock and a timer the test drives)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from swarm_celery.tasks import batches
from swarm_celery.tasks.batches import Report, _Batcher, _Held


class Entry:
    def __init__(self, at: float, call: Callable[[], None]) -> None:
        self.at, self.call, self.cancelled = at, call, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """time.monotonic and Celery's timer (``call_after``), advanced by the test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.entries: list[Entry] = []

    def __call__(self) -> float:
        return self.now

    def call_after(self, seconds: float, call: Callable[[], None]) -> Entry:
        entry = Entry(self.now + seconds, call)
        self.entries.append(entry)
        return entry

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while due := sorted((e for e in self.entries if not e.cancelled and e.at <= end), key=lambda e: e.at):
            self.entries.remove(due[0])
            self.now = max(self.now, due[0].at)
            due[0].call()
        self.now = end


def nothing(*_: Any) -> None:
    """A report's ack and reject: not what these tests look at."""


def held(i: int) -> _Held:
    return _Held(Report(str(i), (i,)), nothing, nothing)


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> tuple[Clock, _Batcher, list[list[str]]]:
    clock = Clock()
    monkeypatch.setattr(batches.time, "monotonic", clock)
    taken: list[list[str]] = []
    return clock, _Batcher(clock, quiet=0.005, linger=0.05, take=lambda b: taken.append([h.report.task_id for h in b])), taken


def test_a_lone_report_is_taken_after_the_quiet_window(rig: tuple[Clock, _Batcher, list[list[str]]]) -> None:
    clock, batcher, taken = rig
    batcher.add(held(1))
    clock.advance(0.004)
    assert taken == []
    clock.advance(0.002)
    assert taken == [["1"]]


def test_a_stream_of_reports_makes_one_batch_until_the_first_has_lingered(rig: tuple[Clock, _Batcher, list[list[str]]]) -> None:
    clock, batcher, taken = rig
    for i in range(30):  # one every 2 ms: never 5 ms quiet
        batcher.add(held(i))
        clock.advance(0.002)
    # the first came at 0; the batch was taken at 50 ms with the 25 reports that had come by then
    assert [len(b) for b in taken] == [25] and taken[0][0] == "0"
    clock.advance(0.01)
    assert [len(b) for b in taken] == [25, 5]


def test_a_full_batch_is_taken_by_its_owner_and_disarms_the_timer(rig: tuple[Clock, _Batcher, list[list[str]]]) -> None:
    clock, batcher, taken = rig
    assert [batcher.add(held(i)) for i in range(3)] == [1, 2, 3]
    batcher.flush()
    assert taken == [["0", "1", "2"]]
    clock.advance(1.0)
    assert taken == [["0", "1", "2"]]  # nothing held, nothing taken again
