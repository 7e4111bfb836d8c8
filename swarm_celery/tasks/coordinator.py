"""Coordinator tasks (queue ``coordinator``): thin shims that decode a payload and call the Coordinator."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.model import BuildResult, DroneIdentity
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator


def register(app: Celery, coordinator: Callable[[], Coordinator], controller: Callable[[], Controller]) -> None:
    @app.task(name="swarm.plan")  # type: ignore[untyped-decorator]
    def plan(session_id: str) -> int:
        return coordinator().plan(session_id)

    @app.task(name="swarm.build_started")  # type: ignore[untyped-decorator]
    def build_started(attempt_id: str, drone: str, arch: str, started_at: float) -> None:
        coordinator().build_started(attempt_id, drone, arch, started_at)

    @app.task(name="swarm.build_finished")  # type: ignore[untyped-decorator]
    def build_finished(result: dict[str, object]) -> None:
        coordinator().build_finished(BuildResult.from_json(result))

    @app.task(name="swarm.control")  # type: ignore[untyped-decorator]
    def control(request: dict[str, object]) -> str:
        try:
            parsed = ControlRequest.from_json(request)
        except (KeyError, ValueError) as exc:  # a malformed request is recorded and dropped, never retried
            coordinator().store.add_event("control.invalid", f"error: {exc}", None, str(request.get("request_id", "")))
            return f"error: {exc}"
        return controller().apply(parsed)

    @app.task(name="swarm.dispatch")  # type: ignore[untyped-decorator]
    def dispatch(arch: str) -> int:
        return coordinator().dispatch(arch)

    @app.task(name="swarm.drone_hello")  # type: ignore[untyped-decorator]
    def drone_hello(identity: dict[str, object]) -> None:
        coordinator().drone_hello(DroneIdentity.from_json(identity))

    @app.task(name="swarm.drone_goodbye")  # type: ignore[untyped-decorator]
    def drone_goodbye(name: str, arch: str) -> None:
        coordinator().drone_goodbye(name, arch)
