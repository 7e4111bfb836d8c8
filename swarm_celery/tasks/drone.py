"""Drone task (queues ``build.<arch>`` and ``drone.<name>``) and the drone's announcements.

On ``worker_ready`` the drone announces its identity (cores, memory, free disk,
slots) to the coordinator, then heart-beats every ``heartbeat`` seconds, naming the
builds it is running (their leases: domain.leases); on shutdown it says goodbye so the
coordinator stops giving it work at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from celery.worker import state as worker_state

from swarm_celery.domain.model import BuildRequest, DroneIdentity, build_queue, drone_queue
from swarm_celery.domain.trust import refusal
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.tasks.messaging import CeleryReporter

log = logging.getLogger(__name__)


def register(app: Celery, runner: Callable[[], DroneRunner], signing: bool = False) -> None:
    @app.task(name="swarm.build")  # type: ignore[untyped-decorator]
    def build(request: object, signed_by: str = "") -> str:
        return take_build(request, signed_by, signing, runner)


def take_build(request: object, signed_by: str, signing: bool, runner: Callable[[], DroneRunner]) -> str:
    """One ``swarm.build`` message. A request that breaks its rules (an attempt id that is no id, a package name that
    is no name) or that the coordinator did not sign is logged and dropped: its fields become paths and a command line
    here. Returns the outcome ("refused" for a dropped request)."""
    why = refusal("swarm.build", signed_by, signing)
    try:
        parsed = BuildRequest.from_json(request)
    except ValueError as exc:
        why = why or str(exc)
    if why:
        log.error("build request refused and dropped: %s", why)
        return "refused"
    return runner().build(parsed).outcome.value


class Announcer:
    """Hello at start, heartbeats while running, goodbye at shutdown (the main worker process only)."""

    def __init__(self, reporter: CeleryReporter, identity: Callable[[], DroneIdentity], interval: float,
                 only_if: Callable[[Any], bool] | None = None) -> None:
        self.reporter = reporter
        self.identity = identity
        self.interval = interval
        self.only_if = only_if  # given Celery's consumer: is this worker a drone? (None: yes)
        self._stop = threading.Event()
        self._on = False

    def connect(self) -> None:
        worker_ready.connect(self._ready, weak=False)
        worker_shutdown.connect(self._shutdown, weak=False)

    def _ready(self, sender: Any = None, **_: Any) -> None:
        if self.only_if is not None and not self.only_if(sender):
            return
        self._on = True
        me = self.identity()
        self.reporter.hello(me)
        log.info("announced %s: %d slots", me.name, me.slots)
        threading.Thread(target=self._beat, name="swarm-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # a full hello: free disk changes, a coordinator that lost it learns it again, and the builds running
                # now (the worker's active requests; task id = attempt id) renew their leases
                me = replace(self.identity(), running=tuple(sorted(str(r.id) for r in list(worker_state.active_requests))))
                self.reporter.hello(me)
            except Exception:  # the broker may be down for a while; keep beating
                log.warning("heartbeat failed", exc_info=True)

    def _shutdown(self, **_: Any) -> None:
        self._stop.set()
        if not self._on:
            return
        try:
            me = self.identity()
            self.reporter.goodbye(me.name, me.arch)
        except Exception:
            log.warning("goodbye failed", exc_info=True)


def consumes_drone_queues(consumer: Any) -> bool:
    """Whether a worker (given its Celery consumer) takes builds: it consumes a ``build.<arch>`` or ``drone.<name>`` queue."""
    try:
        queues = consumer.app.amqp.queues.consume_from or {}
    except AttributeError:
        return False
    return any(str(name).startswith((build_queue(""), drone_queue(""))) for name in queues)
