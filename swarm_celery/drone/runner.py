"""The drone's side of one build: report start, build into staging, report the result.

Dumb drones (DESIGN.md decision 5): a drone knows its name, arch, staging
directory and builder, and reports through the :class:`Reporter`; it holds no
database credentials and no DAG.

The start report is sent once the build has run ``start_after`` seconds (0: at once): a build that ends
sooner (a virtual, an acct-user, a binary package) sends only its completion, which carries its start time
and which the coordinator takes without a start. That saves a broker message and a coordinator transaction
per short build; the start report is informational (leases run from the dispatch).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from swarm_celery.domain.model import BuildRequest, BuildResult, Outcome
from swarm_celery.drone.builders import Builder
from swarm_celery.drone.process import Revoked, sigterm_raises
from swarm_celery.errors import BuildFailed, UploadFailed

log = logging.getLogger(__name__)


class Reporter(Protocol):
    def started(self, attempt_id: str, drone: str, arch: str, started_at: float) -> None: ...
    def finished(self, result: BuildResult, urgency: int = 5) -> None: ...


class Transport(Protocol):
    """Gets the built artifact (and the build log) to the coordinator; returns what to report as artifact_path."""

    def artifact(self, attempt_id: str, path: Path, sha256: str) -> str: ...
    def log(self, attempt_id: str, path: Path) -> None: ...


class DroneRunner:
    def __init__(self, name: str, builder: Builder, staging: Path, reporter: Reporter, transport: Transport | None = None,
                 start_after: float = 0.0) -> None:
        self.name = name
        self.builder = builder
        self.staging = staging
        self.reporter = reporter
        self.transport = transport  # None: the coordinator reads the drone's staging directory (one host, or a shared filesystem)
        self.start_after = start_after  # seconds a build runs before its start report is sent (0: at once)

    def build(self, request: BuildRequest) -> BuildResult:
        started = time.time()
        announce = _StartReport(self.reporter, request, self.name, started, self.start_after)
        try:
            result = self._build(request, started)
        finally:
            announce.settle()  # a start report being sent goes out before the completion; one not yet due never does
        self.reporter.finished(result, request.urgency)
        log.info("%s %s: %s", request.cpv, request.attempt_id, result.outcome.value)
        return result

    def _build(self, request: BuildRequest, started: float) -> BuildResult:
        workdir = self.staging / request.attempt_id
        shutil.rmtree(workdir, ignore_errors=True)  # a redelivered attempt starts clean
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            with sigterm_raises():  # revoke(terminate=True): the build stops, the attempt is reported cancelled
                output = self.builder.build(request, workdir)
        except Revoked as exc:
            result = BuildResult(request.attempt_id, self.name, Outcome.CANCELLED, log_tail=f"build-swarm: build revoked ({exc})",
                                 started_at=started, finished_at=time.time(), simulated=self.builder.simulated)
        except BuildFailed as exc:
            result = BuildResult(request.attempt_id, self.name, Outcome.FAILED, log_tail=exc.log_tail, started_at=started,
                                 finished_at=time.time(), simulated=self.builder.simulated, exit_code=exc.build_status)
        else:
            result = BuildResult(
                request.attempt_id, self.name, Outcome.SUCCESS, artifact_path=str(output.artifact), sha256=output.sha256,
                size=output.size, log_tail=output.log_tail, started_at=started, finished_at=time.time(),
                simulated=self.builder.simulated, build_seconds=output.build_seconds or time.time() - started,
            )
        if self.transport is not None:
            result = self._deliver(request, result, workdir)
        return result

    def _deliver(self, request: BuildRequest, result: BuildResult, workdir: Path) -> BuildResult:
        """Upload the build log (best effort) and the artifact (or fail the attempt as an infrastructure failure)."""
        assert self.transport is not None
        log_path = self.builder.log_path(request)
        notes = ""
        if log_path is not None and log_path.is_file():
            try:
                self.transport.log(request.attempt_id, log_path)
            except UploadFailed as exc:
                notes = f"\nbuild-swarm: the build log was not uploaded: {exc}"
        try:
            if result.outcome is Outcome.SUCCESS:
                ref = self.transport.artifact(request.attempt_id, Path(result.artifact_path), result.sha256)
                return replace(result, artifact_path=ref, log_tail=result.log_tail + notes)
        except UploadFailed as exc:
            return replace(result, outcome=Outcome.FAILED, artifact_path="", log_tail=f"{result.log_tail}{notes}\nbuild-swarm: upload failed: {exc}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)  # the coordinator holds it now (or it is lost either way)
        return replace(result, log_tail=result.log_tail + notes)


class _StartReport:
    """One build's start report: sent at once (``after`` 0) or by a timer once the build has run ``after`` seconds."""

    def __init__(self, reporter: Reporter, request: BuildRequest, drone: str, started: float, after: float) -> None:
        self.reporter, self.request, self.drone, self.started = reporter, request, drone, started
        self.timer: threading.Timer | None = None
        if after <= 0:
            self._send()  # a broker that cannot be reached fails the build before it starts, as it always did
            return
        self.timer = threading.Timer(after, self._late)
        self.timer.daemon = True
        self.timer.start()

    def _send(self) -> None:
        self.reporter.started(self.request.attempt_id, self.drone, self.request.arch, self.started)

    def _late(self) -> None:
        try:
            self._send()
        except Exception as exc:  # the completion still carries the start time; the build goes on
            log.warning("the start report could not be sent: %s", exc)

    def settle(self) -> None:
        """Cancel the report if it is not due yet; wait for it if it is being sent."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer.join()
