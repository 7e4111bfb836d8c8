"""Coordinator tasks (queue ``coordinator``): thin shims that decode a payload and call the Coordinator."""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Celery
from celery.signals import worker_shutdown

from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.model import BuildResult, DroneIdentity
from swarm_celery.domain.records import StartReport
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.tasks.batches import Report, ReportBatch, decode, one_writer

log = logging.getLogger(__name__)


def register(app: Celery, coordinator: Callable[[], Coordinator], controller: Callable[[], Controller]) -> None:
    _register_builds(app, coordinator)
    _register_fleet(app, coordinator, controller)

    def save_timings(**_: object) -> None:
        """The last second's batch timings, kept in the record when the worker stops (solo pool: this process ran them)."""
        try:
            coordinator().timings.save()
        except Exception:  # the record may be what is gone; the worker stops either way
            log.warning("the coordinator's batch timings were not saved", exc_info=True)

    worker_shutdown.connect(save_timings, weak=False)


def _register_builds(app: Celery, coordinator: Callable[[], Coordinator]) -> None:
    @app.task(name="swarm.plan")  # type: ignore[untyped-decorator]
    def plan(session_id: str) -> int:
        with one_writer():
            return coordinator().plan(session_id)

    def invalid(what: str) -> Callable[[str, str], None]:
        return lambda task_id, why: coordinator().invalid("report.invalid", f"malformed {what} report dropped: {why}", task_id)

    @app.task(name="swarm.build_started", base=ReportBatch)  # type: ignore[untyped-decorator]
    def build_started(reports: list[Report]) -> None:
        """Args per message: attempt_id, drone, arch, started_at."""
        coordinator().builds_started(decode(reports, _start_report, invalid("start")))

    @app.task(name="swarm.build_finished", base=ReportBatch)  # type: ignore[untyped-decorator]
    def build_finished(reports: list[Report]) -> None:
        """Args per message: the BuildResult as JSON."""
        coordinator().builds_finished(decode(reports, BuildResult.from_json, invalid("completion")))

    @app.task(name="swarm.dispatch")  # type: ignore[untyped-decorator]
    def dispatch(arch: str) -> int:
        with one_writer():
            return coordinator().dispatch(arch)


def _register_fleet(app: Celery, coordinator: Callable[[], Coordinator], controller: Callable[[], Controller]) -> None:
    @app.task(name="swarm.control")  # type: ignore[untyped-decorator]
    def control(request: dict[str, object]) -> str:
        try:
            parsed = ControlRequest.from_json(request)
        except (KeyError, ValueError) as exc:  # a malformed request is recorded and dropped, never retried
            coordinator().invalid("control.invalid", f"error: {exc}", str(request.get("request_id", ""))[:64])
            return f"error: {exc}"
        with one_writer():
            return controller().apply(parsed)

    @app.task(name="swarm.drone_hello")  # type: ignore[untyped-decorator]
    def drone_hello(identity: dict[str, object]) -> None:
        with one_writer():
            coordinator().drone_hello(DroneIdentity.from_json(identity))

    @app.task(name="swarm.reclaim")  # type: ignore[untyped-decorator]
    def reclaim() -> int:
        """Beat: take back attempts whose leases expired (services.coordinator.Coordinator.reclaim)."""
        with one_writer():
            return coordinator().reclaim()

    @app.task(name="swarm.breaker")  # type: ignore[untyped-decorator]
    def breaker() -> list[str]:
        """Beat: lift groundings that ran out (services.coordinator.Coordinator.lift_groundings)."""
        with one_writer():
            return coordinator().lift_groundings()

    @app.task(name="swarm.drone_goodbye")  # type: ignore[untyped-decorator]
    def drone_goodbye(name: str, arch: str) -> None:
        with one_writer():
            coordinator().drone_goodbye(name, arch)


def _start_report(attempt_id: str, drone: str, arch: str, started_at: float) -> StartReport:
    return StartReport(str(attempt_id), str(drone), str(arch), float(started_at))
