"""Controls sent from outside the coordinator (the CLI's `drone deploy`): queue ``swarm.control`` and wait for the
coordinator's answer, the ``control.<action>`` event naming the request (the coordinator is the record's only writer).
The :class:`~swarm_celery.ports.DroneControls` port for :mod:`swarm_celery.services.deploy`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from swarm_celery.domain.controls import Action, ControlRequest, validate
from swarm_celery.errors import ControlFailed, UserError
from swarm_celery.ports import Clock, ControlQueue, RecordReader


class ControlClient:
    def __init__(self, queue: ControlQueue, reader: RecordReader, clock: Clock, sleep: Callable[[float], None], wait: float = 30.0) -> None:
        self.queue = queue
        self.reader = reader
        self.clock = clock
        self.sleep = sleep
        self.wait = wait

    def pause(self, drone: str) -> str:
        return self.send(Action.PAUSE, drone)

    def resume(self, drone: str) -> str:
        return self.send(Action.RESUME, drone)

    def send(self, action: Action, drone: str) -> str:
        """The coordinator's answer (one line); ControlFailed when it refused, UserError when it did not answer."""
        try:
            request = validate(ControlRequest(action, drone, "", "", uuid.uuid4().hex))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        self.queue.send_control(request)
        deadline = self.clock.now() + self.wait
        while self.clock.now() < deadline:
            answer = self.reader.event_for(request.request_id)
            if answer is not None:
                if answer.startswith("error:"):
                    raise ControlFailed(answer.removeprefix("error:").strip())
                return answer
            self.sleep(0.1)
        raise UserError(f"the coordinator did not answer `control {action.value} --drone {drone}` within {self.wait:.0f} s: is "
                        "`build-swarm coordinator` running?")
