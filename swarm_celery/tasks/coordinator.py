"""Coordinator tasks (queue ``coordinator``): thin shims that decode a payload and call the Coordinator."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from swarm_celery.domain.model import BuildResult
from swarm_celery.services.coordinator import Coordinator


def register(app: Celery, coordinator: Callable[[], Coordinator]) -> None:
    @app.task(name="swarm.plan")  # type: ignore[untyped-decorator]
    def plan(session_id: str) -> int:
        return coordinator().plan(session_id)

    @app.task(name="swarm.build_started")  # type: ignore[untyped-decorator]
    def build_started(attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        coordinator().build_started(attempt_id, drone, arch, started_at)

    @app.task(name="swarm.build_finished")  # type: ignore[untyped-decorator]
    def build_finished(result: dict[str, object]) -> None:
        coordinator().build_finished(BuildResult.from_json(result))
