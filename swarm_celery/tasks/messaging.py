"""Celery adapters of the Dispatcher and Reporter ports: tasks are sent by name, payloads are JSON."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.model import COORDINATOR_QUEUE, BuildRequest, BuildResult, DroneIdentity


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None:
        """One producer (one pooled connection) for a whole placement."""
        if not builds:
            return
        with self.app.producer_or_acquire() as producer:
            for request, queue in builds:
                self.app.send_task("swarm.build", args=[request.to_json()], queue=queue, task_id=request.attempt_id, producer=producer)

    def revoke(self, attempt_ids: Sequence[str], terminate: bool = True) -> None:
        """Queued attempts are dropped; with ``terminate`` running ones stop too: the pool process gets SIGTERM and
        the drone stops the build's whole process group (drone.process) before it reports the attempt cancelled."""
        if attempt_ids:
            self.app.control.revoke(list(attempt_ids), terminate=terminate, signal="SIGTERM")

    def stop_consuming(self, drone: str, queues: Sequence[str]) -> None:
        """``cancel_consumer`` on the drone's worker only (worker names are ``<drone>@<host>``); idempotent."""
        self._to_drone(drone, "cancel_consumer", queues)

    def start_consuming(self, drone: str, queues: Sequence[str]) -> None:
        """``add_consumer`` on the drone's worker only; a worker that consumes the queue already just says so."""
        self._to_drone(drone, "add_consumer", queues)

    def _to_drone(self, drone: str, command: str, queues: Sequence[str]) -> None:
        for queue in queues:
            self.app.control.broadcast(command, arguments={"queue": queue}, pattern=f"{drone}@*", matcher="glob")

    def wake(self, arch: str, after_seconds: float) -> None:
        self.app.send_task("swarm.dispatch", args=[arch], queue=COORDINATOR_QUEUE, countdown=max(0.0, after_seconds))

    def send_plan(self, session_id: str) -> None:
        self.app.send_task("swarm.plan", args=[session_id], queue=COORDINATOR_QUEUE)


class CeleryReporter:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        # informational: behind every completion (the coordinator accepts it after the completion, too)
        self.app.send_task("swarm.build_started", args=[attempt_id, drone, arch, started_at], queue=COORDINATOR_QUEUE, priority=9)

    def finished(self, result: BuildResult, urgency: int = 5) -> None:
        self.app.send_task("swarm.build_finished", args=[result.to_json()], queue=COORDINATOR_QUEUE, priority=urgency)

    def hello(self, identity: DroneIdentity) -> None:
        self.app.send_task("swarm.drone_hello", args=[identity.to_json()], queue=COORDINATOR_QUEUE)

    def goodbye(self, name: str, arch: str) -> None:
        self.app.send_task("swarm.drone_goodbye", args=[name, arch], queue=COORDINATOR_QUEUE)


class CeleryMessenger:
    """The coordinator queue as the API uses it (plans, controls, drones' HTTP heartbeats)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_plan(self, session_id: str) -> None:
        CeleryDispatcher(self.app).send_plan(session_id)

    def send_control(self, request: ControlRequest) -> None:
        self.app.send_task("swarm.control", args=[request.to_json()], queue=COORDINATOR_QUEUE)

    def hello(self, identity: DroneIdentity) -> None:
        CeleryReporter(self.app).hello(identity)
