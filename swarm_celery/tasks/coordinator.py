"""Coordinator tasks (queue ``coordinator``): thin shims that check a message, decode it and call the Coordinator.

Every message is checked at this boundary, one parser per message type (domain.model, domain.controls,
domain.names): a message that breaks its rule, or (with message signing) was signed by someone who may not send
it (domain.trust), is recorded as a ``report.invalid`` (``control.invalid``) event and dropped — never a crash, a
hang or a requeue loop. ``signed_by`` is the signer's name that tasks.signing hands every task ("" unsigned).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import worker_shutdown

from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.model import BuildResult, DroneIdentity
from swarm_celery.domain.names import ARCH, ATTEMPT_ID, SESSION_ID, check, check_drone_name, finite
from swarm_celery.domain.records import StartReport
from swarm_celery.domain.trust import refusal
from swarm_celery.services.control import Controller
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.tasks.batches import Report, ReportBatch, decode, one_writer
from swarm_celery.tasks.signing import SIGNER_KWARG

log = logging.getLogger(__name__)


def register(app: Celery, coordinator: Callable[[], Coordinator], controller: Callable[[], Controller], signing: bool = False) -> None:
    gate = Gate(coordinator, signing)
    _register_builds(app, coordinator, gate)
    _register_fleet(app, coordinator, controller, gate)

    def save_timings(**_: object) -> None:
        """The last second's batch timings, kept in the record when the worker stops (solo pool: this process ran them)."""
        try:
            coordinator().timings.save()
        except Exception:  # the record may be what is gone; the worker stops either way
            log.warning("the coordinator's batch timings were not saved", exc_info=True)

    worker_shutdown.connect(save_timings, weak=False)


class Gate:
    """The boundary's bookkeeping: who may send what, and the event for what is refused."""

    def __init__(self, coordinator: Callable[[], Coordinator], signing: bool) -> None:
        self.coordinator = coordinator
        self.signing = signing

    def refused(self, task: str, signed_by: str, subject: str, drone: str = "", kind: str = "report.invalid") -> bool:
        """True (and an event) when the signer may not send this message."""
        why = refusal(task, signed_by, self.signing, drone)
        if why:
            self.coordinator().invalid(kind, f"{why}; dropped", subject[:64])
        return bool(why)

    def invalid(self, what: str) -> Callable[[str, str], None]:
        return lambda task_id, why: self.coordinator().invalid("report.invalid", f"malformed {what} dropped: {why}", task_id[:64])

    def parse(self, task: str, parse: Callable[..., Any], claimed: Callable[[Any], str]) -> Callable[..., Any]:
        """``parse`` of one report's arguments, then the signer check against the drone it names."""
        def checked(*args: Any, **kwargs: Any) -> Any:
            signed_by = str(kwargs.pop(SIGNER_KWARG, ""))
            parsed = parse(*args, **kwargs)
            why = refusal(task, signed_by, self.signing, claimed(parsed))
            if why:
                raise ValueError(why)
            return parsed
        return checked


def _register_builds(app: Celery, coordinator: Callable[[], Coordinator], gate: Gate) -> None:
    @app.task(name="swarm.plan")  # type: ignore[untyped-decorator]
    def plan(session_id: object, signed_by: str = "") -> int:
        if gate.refused("swarm.plan", signed_by, str(session_id)):
            return 0
        try:
            checked = check(SESSION_ID, session_id, "session id")
        except ValueError as exc:
            gate.invalid("plan request")(str(session_id), str(exc))
            return 0
        with one_writer():
            return coordinator().plan(checked)

    started = gate.parse("swarm.build_started", _start_report, lambda r: r.drone)
    finished = gate.parse("swarm.build_finished", BuildResult.from_json, lambda r: r.drone)

    @app.task(name="swarm.build_started", base=ReportBatch)  # type: ignore[untyped-decorator]
    def build_started(reports: list[Report]) -> None:
        """Args per message: attempt_id, drone, arch, started_at."""
        coordinator().builds_started(decode(reports, started, gate.invalid("start report")))

    @app.task(name="swarm.build_finished", base=ReportBatch)  # type: ignore[untyped-decorator]
    def build_finished(reports: list[Report]) -> None:
        """Args per message: the BuildResult as JSON."""
        coordinator().builds_finished(decode(reports, finished, gate.invalid("completion report")))

    @app.task(name="swarm.dispatch")  # type: ignore[untyped-decorator]
    def dispatch(arch: object, signed_by: str = "") -> int:
        if gate.refused("swarm.dispatch", signed_by, str(arch)) or not isinstance(arch, str) or not ARCH.fullmatch(arch):
            return 0
        with one_writer():
            return coordinator().dispatch(arch)


def _register_fleet(app: Celery, coordinator: Callable[[], Coordinator], controller: Callable[[], Controller], gate: Gate) -> None:
    @app.task(name="swarm.control")  # type: ignore[untyped-decorator]
    def control(request: object, signed_by: str = "") -> str:
        subject = str(request.get("request_id", "")) if isinstance(request, dict) else ""
        if gate.refused("swarm.control", signed_by, subject, kind="control.invalid"):
            return "error: refused"
        try:
            parsed = ControlRequest.from_json(request)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed request is recorded and dropped, never retried
            coordinator().invalid("control.invalid", f"error: {exc}", subject[:64])
            return f"error: {exc}"
        with one_writer():
            return controller().apply(parsed)

    @app.task(name="swarm.drone_hello")  # type: ignore[untyped-decorator]
    def drone_hello(identity: object, signed_by: str = "") -> None:
        try:
            parsed = DroneIdentity.from_json(identity)
        except ValueError as exc:
            gate.invalid("hello")("", str(exc))
            return
        if not gate.refused("swarm.drone_hello", signed_by, parsed.name, parsed.name):
            with one_writer():
                coordinator().drone_hello(parsed)

    @app.task(name="swarm.drone_goodbye")  # type: ignore[untyped-decorator]
    def drone_goodbye(name: object, arch: object = "", signed_by: str = "") -> None:
        try:
            drone = check_drone_name(name)
        except ValueError as exc:
            gate.invalid("goodbye")("", str(exc))
            return
        if not gate.refused("swarm.drone_goodbye", signed_by, drone, drone):
            with one_writer():
                coordinator().drone_goodbye(drone)

    _register_periodic(app, coordinator, gate)


def _register_periodic(app: Celery, coordinator: Callable[[], Coordinator], gate: Gate) -> None:
    @app.task(name="swarm.reclaim")  # type: ignore[untyped-decorator]
    def reclaim(signed_by: str = "") -> int:
        """Beat: take back attempts whose leases expired (services.reclaim.Reclaimer)."""
        if gate.refused("swarm.reclaim", signed_by, "reclaim"):
            return 0
        with one_writer():
            return coordinator().reclaim()

    @app.task(name="swarm.breaker")  # type: ignore[untyped-decorator]
    def breaker(signed_by: str = "") -> list[str]:
        """Beat: lift groundings that ran out (services.breaker.Breaker)."""
        if gate.refused("swarm.breaker", signed_by, "breaker"):
            return []
        with one_writer():
            return coordinator().lift_groundings()


def _start_report(attempt_id: object, drone: object, arch: object, started_at: object) -> StartReport:
    return StartReport(check(ATTEMPT_ID, attempt_id, "attempt id"), check_drone_name(drone), check(ARCH, arch, "arch"),
                       finite(started_at, "started_at"))
