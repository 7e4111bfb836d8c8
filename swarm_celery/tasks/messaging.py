"""Celery adapters of the broker ports: tasks are sent by name, payloads are JSON.

:class:`CeleryBroker` is how the coordinator drives the broker (builds, revokes, wake-ups,
drones' consumers); :class:`CeleryMessenger` is the coordinator queue as the CLI, the API and
profile syncs use it (plans, controls, drones' HTTP heartbeats); :class:`CeleryReporter` is a
drone's side (start, completion, hello, goodbye). A transport's own exception (kombu, redis-py,
the filesystem transport) never leaves this module: it becomes one :class:`BrokerError`, whose
message names the broker without its password.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis.exceptions
from celery import Celery
from kombu.exceptions import KombuError
from kombu.utils.url import maybe_sanitize_url

from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.model import COORDINATOR_QUEUE, BuildRequest, BuildResult, DroneIdentity, drone_node
from swarm_celery.domain.names import glob_literal
from swarm_celery.errors import BrokerError

TRANSPORT_ERRORS = (KombuError, redis.exceptions.RedisError, OSError)


@contextmanager
def reaching(app: Celery) -> Iterator[None]:
    """Turn whatever the transport raises into a BrokerError naming the broker (its password masked)."""
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        where = maybe_sanitize_url(str(app.conf.broker_url or ""))
        raise BrokerError(f"cannot reach the broker at {where}: {exc}; is SWARM_BROKER_URL right, and is the broker running?") from exc


class CeleryBroker:
    """The :class:`~swarm_celery.ports.Broker` port."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    @functools.cached_property
    def _events(self) -> Any:
        return self.app.events.Dispatcher(enabled=False)

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None:
        """A whole placement in one batch of one producer (over Redis: one pipeline, one round trip, instead of two
        per build), its task-sent events (what Flower lists the builds by) in one message after the builds, as a
        worker sends its task events. A batch that cannot be sent raises BrokerError; what it lost, the broker census
        finds missing and places again."""
        if not builds:
            return
        events = SentEvents(self._events) if self.app.conf.task_send_sent_event else None
        with reaching(self.app), self.app.producer_or_acquire() as producer, producer.batch():
            for request, queue in builds:
                self.app.send_task("swarm.build", args=[request.to_json()], queue=queue, task_id=request.attempt_id, producer=producer,
                                   event_dispatcher=events)
            if events is not None:
                events.send(producer)

    def revoke(self, attempt_ids: Sequence[str], terminate: bool = True) -> None:
        """Queued attempts are dropped; with ``terminate`` running ones stop too: the pool process gets SIGTERM and
        the drone stops the build's whole process group (drone.process) before it reports the attempt cancelled."""
        if attempt_ids:
            with reaching(self.app):
                self.app.control.revoke(list(attempt_ids), terminate=terminate, signal="SIGTERM")

    def stop_consuming(self, drone: str, queues: Sequence[str]) -> None:
        """``cancel_consumer`` on the drone's worker only (worker names are ``drone.<drone>@<host>``); idempotent."""
        self._to_drone(drone, "cancel_consumer", queues)

    def start_consuming(self, drone: str, queues: Sequence[str]) -> None:
        """``add_consumer`` on the drone's worker only; a worker that consumes the queue already just says so."""
        self._to_drone(drone, "add_consumer", queues)

    def _to_drone(self, drone: str, command: str, queues: Sequence[str]) -> None:
        with reaching(self.app):
            for queue in queues:
                self.app.control.broadcast(command, arguments={"queue": queue}, pattern=f"{glob_literal(drone_node(drone))}@*",
                                       matcher="glob")

    def wake(self, arch: str, after_seconds: float) -> None:
        with reaching(self.app):
            self.app.send_task("swarm.dispatch", args=[arch], queue=COORDINATOR_QUEUE, countdown=max(0.0, after_seconds))


class SentEvents:
    """The ``event_dispatcher`` Celery's ``send_task`` publishes a task-sent event through: it keeps the events, and
    :meth:`send` publishes them as one list (``task.multi``), which Celery's event receivers (Flower, ``celery events``)
    take event by event."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher  # a celery.events.EventDispatcher; it publishes through the producer it is given
        self.events: list[dict[str, Any]] = []

    def publish(self, kind: str, fields: dict[str, Any], producer: Any, **_: Any) -> None:  # what send_task calls
        self.events.append(self.dispatcher._prepare_event(kind, fields))

    def send(self, producer: Any) -> None:
        if self.events:
            with self.dispatcher.mutex:
                self.dispatcher._publish(self.events, producer, routing_key="task.multi")
            self.events = []


class CeleryMessenger:
    """The coordinator queue as the CLI, the API and profile syncs use it (ports PlanQueue and ControlQueue)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_plan(self, session_id: str) -> None:
        self._send("swarm.plan", session_id)

    def send_control(self, request: ControlRequest) -> None:
        self._send("swarm.control", request.to_json())

    def hello(self, identity: DroneIdentity) -> None:
        self._send("swarm.drone_hello", identity.to_json())

    def _send(self, task: str, argument: object) -> None:
        with reaching(self.app):
            self.app.send_task(task, args=[argument], queue=COORDINATOR_QUEUE)


class CeleryReporter:
    """A drone's reports to the coordinator queue."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        # informational: behind every completion (the coordinator accepts it after the completion, too)
        with reaching(self.app):
            self.app.send_task("swarm.build_started", args=[attempt_id, drone, arch, started_at], queue=COORDINATOR_QUEUE, priority=9)

    def finished(self, result: BuildResult, urgency: int = 5) -> None:
        with reaching(self.app):
            self.app.send_task("swarm.build_finished", args=[result.to_json()], queue=COORDINATOR_QUEUE, priority=urgency)

    def hello(self, identity: DroneIdentity) -> None:
        CeleryMessenger(self.app).hello(identity)

    def goodbye(self, name: str, arch: str) -> None:
        with reaching(self.app):
            self.app.send_task("swarm.drone_goodbye", args=[name, arch], queue=COORDINATOR_QUEUE)


__all__ = ["TRANSPORT_ERRORS", "CeleryBroker", "CeleryMessenger", "CeleryReporter", "SentEvents", "reaching"]
