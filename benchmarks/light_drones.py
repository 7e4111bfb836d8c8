"""Light drones: many drones in one process, each speaking a drone's real protocol, for the fleet-scale benchmark.

Each drone of ``--first``..``--first + --count`` (named ``light-NNN``) has its own queue ``drone.<name>``, says the
real hello (``swarm.drone_hello``: its identity, its slots) at start and as its heartbeat every ``SWARM_HEARTBEAT``
seconds (naming the build it is running), says goodbye when stopped, and takes each ``swarm.build`` message through
the drone's own code: ``tasks.drone.take_build`` (the message checked at the boundary) → ``DroneRunner`` → the
simulate builder, which writes a real GPKG into staging → ``CeleryReporter``'s start and completion reports.

What makes them light: one process, one broker connection, one consumer over all its drones' queues, and builds
taken one after another in one thread (with ``SWARM_TIME_SCALE=0`` a build is its GPKG write). They answer no remote
control (revoke, add/cancel_consumer): a benchmark run has no failures, groundings or moves for those to matter.

``--mode pattern`` is the ceiling's drone: ``bench.build`` messages on the same queues, each answered by
``bench.started`` + ``bench.finished`` to the solo counting worker of noop_app (no parsing, no GPKG): the message
pattern with no work.

Started by ``fleet_scale.py`` with the swarm's settings in the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from dataclasses import replace
from typing import Any

from kombu import Consumer, Message

from swarm_celery.bootstrap.core import build_logs_dir, celery_app, durations
from swarm_celery.bootstrap.drone import drone_identity
from swarm_celery.domain.model import drone_queue
from swarm_celery.drone.builders import SimulateBuilder
from swarm_celery.drone.runner import DroneRunner
from swarm_celery.settings import Settings
from swarm_celery.tasks.drone import take_build
from swarm_celery.tasks.messaging import CeleryReporter

log = logging.getLogger("light_drones")
PATTERN_QUEUE = "bench.coord"  # noop_app's solo counting worker


def names(first: int, count: int) -> list[str]:
    return [f"light-{i:03d}" for i in range(first, first + count)]


class LightHost:
    """The drones of one process: their runners, what each runs now, their hellos."""

    def __init__(self, settings: Settings, drones: list[str], mode: str) -> None:
        self.settings = settings
        self.app = celery_app(settings, signer="light")
        self.app.conf.task_send_sent_event = False  # as a drone worker's app (bootstrap.drone.drone_app): reports send no events
        self.reporter = CeleryReporter(self.app)
        self.mode = mode
        builder = SimulateBuilder(durations(settings), settings.time_scale, logs=build_logs_dir(settings))
        self.runners = {drone_queue(n): DroneRunner(n, builder, settings.staging_dir, self.reporter,
                                                   start_after=settings.start_report_after) for n in drones}
        self.running: dict[str, str] = {}  # drone → the attempt it builds now
        self.identity = drone_identity(settings)  # the machine's, once; each drone is this under its own name
        self.stop = threading.Event()
        self.taken = 0

    def hello_all(self) -> None:
        for runner in self.runners.values():
            name = runner.name
            running = (self.running[name],) if name in self.running else ()
            self.reporter.hello(replace(self.identity, name=name, running=running))

    def beat(self) -> None:
        while not self.stop.wait(self.settings.heartbeat):
            try:
                self.hello_all()
            except Exception:  # the broker may be away for a moment; keep beating
                log.warning("heartbeat failed", exc_info=True)

    def on_message(self, body: Any, message: Message) -> None:
        queue = str(message.delivery_info.get("routing_key", ""))
        runner = self.runners.get(queue)
        task = str(message.headers.get("task", ""))
        if runner is None or not isinstance(body, list | tuple) or len(body) != 3:
            log.error("dropping a message for %r (task %r): not for a drone of this host", queue, task)
            message.reject()
            return
        args, kwargs, _embed = body
        if self.mode == "pattern" and task == "bench.build":
            self.app.send_task("bench.started", args=list(args), queue=PATTERN_QUEUE, priority=9)
            self.app.send_task("bench.finished", args=list(args), queue=PATTERN_QUEUE)
        elif self.mode == "swarm" and task == "swarm.build" and args:
            attempt = str(message.headers.get("id", ""))
            self.running[runner.name] = attempt
            take_build(args[0], str(kwargs.get("signed_by", "")), False, lambda: runner)
            self.running.pop(runner.name, None)
        else:
            log.error("dropping task %r on %s: a %s light drone does not take it", task, queue, self.mode)
        self.taken += 1
        message.ack()

    def serve(self, ready: str = "") -> None:
        queues = [self.app.amqp.queues[q] for q in self.runners]  # as Celery declares a queue it sends to
        with self.app.connection_for_read() as connection:
            channel = connection.channel()
            channel.basic_qos(0, 2 * len(self.runners), False)
            consumer = Consumer(channel, queues, callbacks=[self.on_message], accept=["json"])
            consumer.consume()
            if ready:
                with open(ready, "w") as out:
                    out.write(str(os.getpid()))
            if self.mode == "swarm":
                self.hello_all()
                threading.Thread(target=self.beat, name="heartbeats", daemon=True).start()
            while not self.stop.is_set():
                try:
                    connection.drain_events(timeout=0.5)
                except TimeoutError:
                    continue
            consumer.cancel()
        if self.mode == "swarm":
            for runner in self.runners.values():
                self.reporter.goodbye(runner.name, self.identity.arch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--mode", choices=("swarm", "pattern"), default="swarm")
    parser.add_argument("--ready", default="", help="a file written once the drones consume their queues")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = LightHost(Settings.from_env(dict(os.environ)), names(args.first, args.count), args.mode)
    signal.signal(signal.SIGTERM, lambda *_: host.stop.set())
    host.serve(args.ready)
    print(f"light drones {args.first}..{args.first + args.count - 1}: took {host.taken} messages", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
