"""Drone task (queues ``build.<arch>`` and ``drone.<name>``): decode the request, run the build."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from swarm_celery.domain.model import BuildRequest
from swarm_celery.drone.runner import DroneRunner


def register(app: Celery, runner: Callable[[], DroneRunner]) -> None:
    @app.task(name="swarm.build")  # type: ignore[untyped-decorator]
    def build(request: dict[str, object]) -> str:
        return runner().build(BuildRequest.from_json(request)).outcome.value
