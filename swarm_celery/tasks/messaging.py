"""Celery adapters of the Dispatcher and Reporter ports: tasks are sent by name, payloads are JSON."""

from __future__ import annotations

from celery import Celery

from swarm_celery.domain.model import COORDINATOR_QUEUE, BuildRequest, BuildResult


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_build(self, request: BuildRequest, queue: str) -> None:
        self.app.send_task("swarm.build", args=[request.to_json()], queue=queue)

    def send_plan(self, session_id: str) -> None:
        self.app.send_task("swarm.plan", args=[session_id], queue=COORDINATOR_QUEUE)


class CeleryReporter:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        self.app.send_task("swarm.build_started", args=[attempt_id, drone, arch, started_at], queue=COORDINATOR_QUEUE)

    def finished(self, result: BuildResult) -> None:
        self.app.send_task("swarm.build_finished", args=[result.to_json()], queue=COORDINATOR_QUEUE)
