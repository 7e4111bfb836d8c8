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

from swarm_celery.errors import SwarmError

TAIL_LINES = 400
TAIL_CHARS = 64 * 1024


class Revoked(SwarmError):
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


def run_logged(argv: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: float, kill_grace: float = 10.0,
               pidfile: Path | None = None) -> RunResult:
    """Run ``argv`` (no shell) with ``env`` in a new session; its stdout and stderr go to ``log_path`` as they come.

    Raises :class:`Revoked` (after the whole process group is gone) when SIGTERM arrives under :func:`sigterm_raises`.
    ``pidfile`` records the group while it runs, so a drone restarted after a crash stops what it left (:func:`reap_orphans`).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail = _Tail()
    with open(log_path, "ab") as log:
        note = _Notes(log, tail)
        note(f"build-swarm: running {shlex.join(argv)}")
        proc = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
        _record(pidfile, proc.pid)
        try:
            return _supervise(proc, argv[0], log, note, tail, started, timeout, kill_grace)
        finally:
            _forget(pidfile, proc)


def _supervise(proc: subprocess.Popen[bytes], program: str, log: BinaryIO, note: _Notes, tail: _Tail, started: float,
               timeout: float, kill_grace: float) -> RunResult:
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
    note(f"build-swarm: {program} exited with status {code} after {time.monotonic() - started:.1f} s")
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


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _record(pidfile: Path | None, pgid: int) -> None:
    if pidfile is not None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{pgid} {_start_time(pgid) or '?'}\n")


def _forget(pidfile: Path | None, proc: subprocess.Popen[bytes]) -> None:
    """Drop the record once the group is gone (a group still running stays recorded, for the next start to stop)."""
    if pidfile is not None and proc.poll() is not None and not group_alive(proc.pid):
        pidfile.unlink(missing_ok=True)


def _members(pgid: int) -> bool:
    """Does any process still belong to group ``pgid``?"""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid):
            return True
    return False


def reap_orphans(run_dir: Path) -> list[int]:
    """Stop the build process groups an earlier drone process left running (it was killed, or the host lost power).

    A recorded group is ours when its leader still has the recorded start time, or when the leader is gone but
    members remain (a group id is not reused while the group has members). Returns the groups stopped.
    """
    stopped = []
    for record in sorted(run_dir.glob("*.pgid")) if run_dir.is_dir() else []:
        try:
            pgid_text, started = record.read_text().split()
            pgid = int(pgid_text)
        except (OSError, ValueError):
            record.unlink(missing_ok=True)
            continue
        leader = _start_time(pgid)
        if (leader == started or (leader is None and _members(pgid))) and _signal_group(pgid, signal.SIGKILL):
            stopped.append(pgid)
        record.unlink(missing_ok=True)
    return stopped


__all__ = ["Revoked", "RunResult", "group_alive", "reap_orphans", "run_logged", "sigterm_raises", "stop_group"]
