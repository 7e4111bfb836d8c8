"""Build logs as the CLI (`build-swarm logs`) and the dashboard's log viewer read them: a chunk at a time, while the build runs.

A drone writes ``<attempt>.log`` as its build goes (emerge's output, or a simulated build's
progress) in its ``SWARM_HOME/logs/builds``, and uploads the whole file to the API when the
build ends. On one host (the demo, drones sharing ``SWARM_HOME``) the log is readable live; a
remote drone's log arrives when its build ends, and until then the viewer says so.
"""

from __future__ import annotations

from pathlib import Path

from swarm_celery.domain.board import LogChunk
from swarm_celery.domain.names import ATTEMPT_ID
from swarm_celery.errors import NotFoundError
from swarm_celery.ports import RecordReader

CHUNK = 64 * 1024
OVER = ("finished", "stale")  # attempt states after which its log does not grow


class BuildLogs:
    def __init__(self, directory: Path, reader: RecordReader) -> None:
        self.directory = directory
        self.reader = reader

    def which(self, target: str, session: str = "") -> str:
        """The attempt ``target`` names: an attempt id, or a package (``cat/pkg[-ver]``), whose newest attempt it is."""
        if ATTEMPT_ID.fullmatch(target) and self.reader.attempt(target) is not None:
            return target
        found = self.reader.attempts_of(target, session)
        if not found:
            where = f" in session {session}" if session else ""
            raise NotFoundError(f"no attempt {target}, and no build of a package {target}{where}: "
                                "`build-swarm history` lists the attempts")
        return found[0].attempt

    def read(self, attempt: str, offset: int = 0, limit: int = CHUNK) -> LogChunk:
        owner = self.reader.attempt(attempt) if ATTEMPT_ID.fullmatch(attempt) else None
        if owner is None:
            raise NotFoundError(f"no attempt {attempt[:40]}: `build-swarm history` lists the attempts")
        over = owner.state in OVER
        path = self.directory / f"{attempt}.log"
        try:
            with path.open("rb") as log:
                size = log.seek(0, 2)
                log.seek(min(max(0, offset), size))
                data = log.read(limit)
        except FileNotFoundError:
            return LogChunk(attempt, offset, "", offset, over, False)
        if (not over or offset + len(data) < size) and len(data) < limit:
            data = data[: data.rfind(b"\n") + 1]  # whole lines while it grows: the last may be half written
        end = offset + len(data)
        return LogChunk(attempt, offset, data.decode("utf-8", "replace"), end, over and end >= size, True)
