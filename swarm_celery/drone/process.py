"""Run one build command in its own process group, stream its output to a log, and stop all of it on demand.

A build is ``emerge`` and everything it starts (ebuild phases, make, compilers): it runs in a
new session, so one ``killpg`` reaches all of it. It is stopped — SIGTERM, then SIGKILL after
a grace period — when it outlives its timeout, when the Celery task is revoked (the worker
sends SIGTERM to the pool process, which :func:`sigterm_raises` turns into :class:`Revoked`),
and after it exits, so nothing it left running survives the build.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import BinaryIO

TAIL_LINES = 400
TAIL_CHARS = 64 * 1024


class Revoked(Exception):
    """The build was told to stop (SIGTERM: ``revoke(terminate=True)``, or the worker shutting down hard)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Revoked` in the main thread (a prefork pool process runs its task there)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # solo/threads pools: the worker's own SIGTERM handling stays
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Revoked(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int | None  # None when the build was stopped before it exited on its own
    timed_out: bool
    tail: str  # the last lines of the output (and of our own notes), for the failure classifier
    seconds: float
    pgid: int


class _Tail:
    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)
        self.partial = b""

    def feed(self, chunk: bytes) -> None:
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        self.lines.extend(line.decode("utf-8", "replace") for line in complete)

    def text(self) -> str:
        lines = [*self.lines, self.partial.decode("utf-8", "replace")] if self.partial else list(self.lines)
        return "\n".join(lines)[-TAIL_CHARS:]


def run_logged(argv: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: float, kill_grace: float = 10.0) -> RunResult:
    """Run ``argv`` (no shell) with ``env`` in a new session; its stdout and stderr go to ``log_path`` as they come.

    Raises :class:`Revoked` (after the whole process group is gone) when SIGTERM arrives under :func:`sigterm_raises`.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail = _Tail()
    with open(log_path, "ab") as log:
        note = _Notes(log, tail)
        note(f"build-swarm: running {shlex.join(argv)}")
        proc = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
        assert proc.stdout is not None
        timed_out = False
        try:
            timed_out = not _pump(proc, log, tail, started + timeout)
        except Revoked as exc:
            stop_group(proc, kill_grace)
            note(f"build-swarm: build revoked (signal {exc.signum}): process group {proc.pid} stopped")
            raise
        finally:
            proc.stdout.close()
        if timed_out:
            stop_group(proc, kill_grace)
            note(f"build-swarm: build timed out after {timeout:.0f} s: process group {proc.pid} stopped")
            return RunResult(None, True, tail.text(), time.monotonic() - started, proc.pid)
        code = proc.wait()
        stop_group(proc, kill_grace)  # whatever the build left running in the background goes with it
        note(f"build-swarm: {argv[0]} exited with status {code} after {time.monotonic() - started:.1f} s")
        return RunResult(code, False, tail.text(), time.monotonic() - started, proc.pid)


class _Notes:
    """Our own lines, in the log and in the tail alike."""

    def __init__(self, log: BinaryIO, tail: _Tail) -> None:
        self.log = log
        self.tail = tail

    def __call__(self, line: str) -> None:
        data = (line + "\n").encode()
        if self.tail.partial:
            data = b"\n" + data
        self.log.write(data)
        self.log.flush()
        self.tail.feed(data)


def _pump(proc: subprocess.Popen[bytes], log: BinaryIO, tail: _Tail, deadline: float) -> bool:
    """Copy output to the log until the pipe closes and the command exits; False when the deadline passed first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not selector.select(min(left, 1.0)):
                if proc.poll() is not None:  # exited, but something it started still holds the pipe: done anyway
                    return True
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return True
            log.write(chunk)
            log.flush()
            tail.feed(chunk)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``grace`` seconds; returns when the group is gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        if not _signal_group(proc.pid, sig):
            proc.wait()
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            proc.poll()  # reap the leader, or it stays a member of its group as a zombie
            if not _signal_group(proc.pid, 0):
                return
            time.sleep(0.05)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when it has no members left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its credentials (setuid helper): it is still there
        return True
    return True


def group_alive(pgid: int) -> bool:
    return _signal_group(pgid, 0)


__all__ = ["Revoked", "RunResult", "group_alive", "run_logged", "sigterm_raises", "stop_group"]
