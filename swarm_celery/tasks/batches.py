"""Report batches: the drones' start and completion reports reach the coordinator service many at a time.

``swarm.build_started`` and ``swarm.build_finished`` are :class:`ReportBatch` tasks.
Their worker strategy (the function Celery calls for each received message) buffers
the messages the coordinator worker has prefetched and runs the task on all of them once
no other report came for ``REPORT_FLUSH`` seconds, the first has waited ``REPORT_LINGER``
seconds, or ``REPORT_BATCH`` are there, so one fence read, one transaction, one ``Packages``
rewrite and one placement serve the whole batch. A lone report waits ``REPORT_FLUSH``; while
reports keep coming (a backlog in the broker, hundreds of drones) batches grow, and the
coordinator's cost per report falls as its load rises.
The idea and the strategy hook are those of celery-batches (which pins Celery < 5.7).

Delivery stays at-least-once: a batch's messages are acknowledged after the task took
them, together (over Redis in one round trip: tasks.acks). When it raises, its reports are
tried one by one (one report the service cannot take must not hold back the others), and
each that still fails goes back on the queue after ``RETRY_PAUSE`` (a broken database must
not become a busy loop, nor lose a report). Batch tasks do not show in Flower's task list
(no per-message task events); the store's events record them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import Celery, Task

from swarm_celery.tasks.acks import acknowledge

log = logging.getLogger(__name__)

REPORT_BATCH = 256  # most reports in one batch (the coordinator worker prefetches twice as many messages)
REPORT_FLUSH = 0.010  # a batch is taken once no report came for this many seconds ...
REPORT_LINGER = 0.1  # ... or its first report has waited this many
RETRY_PAUSE = 1.0  # seconds before a failed batch goes back to the queue

_writer = threading.RLock()  # the coordinator service has one writer, even where a flush runs on the timer thread
T = TypeVar("T")


@contextmanager
def one_writer() -> Iterator[None]:
    """Every coordinator task runs under this lock. Over Redis the worker's event loop runs batches and tasks in one
    thread and the lock is never contended; over the filesystem broker Celery's timer thread flushes batches."""
    with _writer:
        yield


@dataclass(frozen=True)
class Report:
    """One received message of a batch task: its task id and arguments."""

    task_id: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Held:
    report: Report
    message: Any  # the kombu message: acknowledged with its batch (tasks.acks)
    reject: Callable[..., Any]


class ReportBatch(Task):  # type: ignore[misc]
    """A task whose ``run`` takes ``list[Report]``; see the module docstring."""

    abstract = True
    flush_every = REPORT_BATCH
    flush_interval = REPORT_FLUSH
    linger = REPORT_LINGER

    def Strategy(self, task: Task, app: Celery, consumer: Any) -> Callable[..., None]:  # Celery calls it by this name
        errors = consumer.connection_errors
        batch = _Batcher(consumer.timer, self.flush_interval, self.linger, lambda held: self._run(held, errors))

        def on_message(message: Any, payload: Any, ack: Callable[..., Any], reject: Callable[..., Any], callbacks: Any,
                       **_: Any) -> None:
            try:
                args, kwargs, _embed = message.decode()
                held = _Held(Report(str(message.headers.get("id", "")), tuple(args), dict(kwargs)), message, reject)
            except Exception as exc:  # undecodable: nothing can ever take it
                log.error("dropping an undecodable %s message: %s", self.name, exc)
                reject(log, errors, False)
                return
            if batch.add(held) >= self.flush_every:
                batch.flush()

        return on_message

    def _run(self, batch: list[_Held], errors: Any) -> None:
        """Take the batch; if it fails, take its reports one by one, so one report the service cannot take (a poison
        message) holds back only itself; what still fails goes back to the queue after ``RETRY_PAUSE``."""
        failed = batch if not self._take(batch, errors) else []
        if len(failed) > 1:
            failed = [held for held in failed if not self._take([held], errors)]
        if failed:
            log.warning("%d %s reports failed; requeued in %.0f s", len(failed), self.name, RETRY_PAUSE)
            time.sleep(RETRY_PAUSE)
        for held in failed:
            held.reject(log, errors, True)

    def _take(self, batch: list[_Held], errors: Any) -> bool:
        """Run the task on ``batch``; acknowledge its messages if it took them."""
        try:
            with one_writer():
                self.run([held.report for held in batch])
        except Exception:
            log.exception("a batch of %d %s reports failed", len(batch), self.name)
            return False
        acknowledge([held.message for held in batch], errors)
        return True


class _Batcher:
    """The reports held for a batch, and the timer that takes them: once none came for ``quiet`` seconds, or the first
    has waited ``linger`` (the owner takes a full batch at once)."""

    def __init__(self, timer: Any, quiet: float, linger: float, take: Callable[[list[_Held]], None]) -> None:
        self.timer, self.quiet, self.linger, self.take = timer, quiet, linger, take
        self.held: list[_Held] = []
        self.guard = threading.Lock()
        self.armed: list[Any] = []  # the armed timer entry, if any
        self.first = self.latest = 0.0  # when the batch's first and latest reports came

    def add(self, held: _Held) -> int:
        """Hold one more report; how many are held now."""
        with self.guard:
            self.latest = time.monotonic()
            if not self.held:
                self.first = self.latest
            self.held.append(held)
            if not self.armed:
                self.armed.append(self.timer.call_after(self.quiet, self._due))
            return len(self.held)

    def flush(self) -> None:
        with self.guard:
            batch, self.held = self.held, []
            for entry in self.armed:
                entry.cancel()
            self.armed.clear()
        if batch:
            self.take(batch)

    def _due(self) -> None:
        """The timer: take the batch, unless reports are still coming and the first has not waited too long."""
        with self.guard:
            self.armed.clear()
            wait = min(self.latest + self.quiet, self.first + self.linger) - time.monotonic()
            if self.held and wait > 0.0005:
                self.armed.append(self.timer.call_after(wait, self._due))
                return
        self.flush()


def decode(reports: list[Report], parse: Callable[..., T], invalid: Callable[[str, str], None]) -> list[T]:
    """Each report's arguments through ``parse``; a malformed one is reported to ``invalid`` and left out."""
    parsed: list[T] = []
    for report in reports:
        try:
            parsed.append(parse(*report.args, **report.kwargs))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            invalid(report.task_id, f"{type(exc).__name__}: {exc}; payload {str(report.args)[:200]}")
    return parsed
