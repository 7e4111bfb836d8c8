"""Worker processes of a local swarm: one coordinator and N drones, each a real Celery worker.

Each runs ``python -m swarm_celery worker --role ...`` in its own session (so a
Ctrl-C in the terminal reaches only the demo, which then stops them in order),
logs to ``SWARM_HOME/logs/<name>.log``, and is stopped with SIGTERM (warm
shutdown), then SIGKILL after a grace period.

Drones run at ``DRONE_NICENESS``: on one host they stand in for other machines, and
the coordinator, which every drone waits on for its next build, must not queue for
CPU behind them (a real drone's builds run niced too, by PORTAGE_NICENESS).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DRONE_NICENESS = 10


MAX_RESTARTS = 5  # a worker that died this many times is not started again: something is wrong with it, not with the broker
QUICK_DEATH = 5.0  # seconds: a worker that dies this soon after starting, twice in a row, is crash-looping


@dataclass
class WorkerProcess:
    name: str
    role: str
    process: subprocess.Popen[bytes]
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)
    restarts: int = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def crash_looping(self) -> bool:
        return self.restarts >= MAX_RESTARTS or (self.restarts >= 2 and self.process.poll() is not None
                                                 and time.monotonic() - self.started < QUICK_DEATH)


@dataclass
class LocalStack:
    env: dict[str, str]
    logs: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def start(self, name: str, role: str, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> WorkerProcess:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        env = {**os.environ, **self.env, **(extra_env or {})}
        command = [role] if role in ("beat", "api") else ["worker", "--role", role, "--name", name]
        argv = [sys.executable, "-m", "swarm_celery", *command, *args]
        nice = shutil.which("nice")
        if role == "drone" and nice:
            argv = [nice, "-n", str(DRONE_NICENESS), *argv]  # exec'd in place: the pid is the worker's
        with log.open("ab") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        worker = WorkerProcess(name, role, process, log, dict(extra_env or {}), args)
        self.workers.append(worker)
        return worker

    def dead(self) -> list[WorkerProcess]:
        return [w for w in self.workers if not w.alive()]

    def revive(self) -> tuple[list[WorkerProcess], list[WorkerProcess]]:
        """What a service manager's ``Restart=always`` does: start again every worker that died on its own (a drone
        killed, a worker that lost its broker). Returns (restarted, given up on: crash-looping, left dead)."""
        restarted, hopeless = [], []
        for worker in self.dead():
            if worker.crash_looping():
                hopeless.append(worker)
                continue
            self.workers.remove(worker)
            again = self.start(worker.name, worker.role, worker.extra_env, worker.args)
            again.restarts = worker.restarts + 1
            restarted.append(again)
        return restarted, hopeless

    def stop(self, grace: float = 10.0) -> None:
        """Beat and drones first (nothing new starts), then the coordinator; SIGKILL what ignores SIGTERM."""
        ordered = sorted(self.workers, key=lambda w: w.role == "coordinator")
        for worker in ordered:
            _signal(worker, signal.SIGTERM)
        deadline = time.monotonic() + grace  # one grace for all: they stop in parallel
        for worker in ordered:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(worker, signal.SIGKILL)
                worker.process.wait()


def _signal(worker: WorkerProcess, sig: signal.Signals) -> None:
    if worker.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, sig)
