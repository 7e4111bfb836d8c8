"""Builders: how a drone turns a :class:`BuildRequest` into a binary package.

``SimulateBuilder`` sleeps for the package's real build time (scaled) and writes a
real GPKG whose metadata is what was asked for; it goes through exactly the same
path as a real build: staging file, sha256, report, coordinator-side checks.
``EmergeBuilder`` (:mod:`swarm_celery.drone.emerge`) runs the real ``emerge --buildpkg``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildRequest
from swarm_celery.domain.scheduling import history_key
from swarm_celery.domain.simulation import Chaos
from swarm_celery.errors import BuildFailed

CHOST = {"amd64": "x86_64-pc-linux-gnu", "arm64": "aarch64-unknown-linux-gnu"}


@dataclass(frozen=True, slots=True)
class BuildOutput:
    artifact: Path
    sha256: str
    size: int
    log_tail: str
    build_seconds: float = 0.0


PROGRESS_EVERY = 0.5  # seconds between a simulated build's progress lines, at least
EXACT = Chaos()  # builds take what the table says, and none fails by chance
INFRA_PREFIX = "infra:"  # SWARM_SIMULATE_FAIL entry that fails with an infrastructure error ("infra:*": every build)


class Builder(Protocol):
    simulated: bool

    def build(self, request: BuildRequest, staging: Path) -> BuildOutput: ...
    def log_path(self, request: BuildRequest) -> Path | None: ...  # the full build log it writes, if any


class SimulateBuilder:
    """Take the real build time × ``time_scale``, writing a real GPKG within it (as emerge writes its binpkg within the build)."""

    simulated = True

    def __init__(self, durations: Durations, time_scale: float, fail: frozenset[str] = frozenset(), speed: float = 1.0,
                 logs: Path | None = None, chaos: Chaos = EXACT) -> None:
        self.durations = durations
        self.time_scale = time_scale
        self.fail = fail  # CPVs or cat/pkg names to fail on purpose (demo and tests of the failure path)
        self.speed = speed  # this drone builds `speed` times slower than the table says
        self.logs = logs  # where it writes each build's log as the build goes (as emerge's is), None: the report's tail only
        self.chaos = chaos  # how real builds differ from the table: noise, bias, transient failures

    def log_path(self, request: BuildRequest) -> Path | None:
        return self.logs / f"{request.attempt_id}.log" if self.logs is not None else None

    def _log(self, request: BuildRequest, line: str) -> None:
        path = self.log_path(request)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as out:
                out.write(line + "\n")

    def _wait(self, request: BuildRequest, deadline: float, seconds: float) -> None:
        """Sleep until ``deadline``, logging progress now and then (a live log viewer has something to follow)."""
        total = max(0.0, deadline - time.monotonic())
        step = max(PROGRESS_EVERY, total / 10)
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(step, left))
            done = 1.0 - max(0.0, deadline - time.monotonic()) / total if total else 1.0
            self._log(request, f">>> SIMULATED {request.cpv}: {done:4.0%} of {seconds:.0f} s (real build time, x{self.time_scale})")

    def build(self, request: BuildRequest, staging: Path) -> BuildOutput:
        seconds = self.durations.for_cpv(request.cpv) * self.chaos.factor(request.cpv) * self.speed  # what it really takes here
        started = time.monotonic()
        deadline = started + seconds * self.time_scale
        self._log(request, f">>> Emerging (1 of 1) {request.cpv}::{request.repo} -- SIMULATED by build-swarm (attempt {request.attempt_id})")
        self._maybe_fail(request, deadline, seconds)
        self._maybe_time_out(request, started, seconds)
        meta = BinpkgMetadata(
            cpv=request.cpv, slot=request.slot, repo=request.repo, arch=request.arch, use=request.use,
            chost=CHOST.get(request.arch, ""), build_time=int(time.time()), build_id=1,
            extra=(("BUILD_SWARM_SIMULATED", f"{self.time_scale} {seconds:.0f}\n"),),  # time scale, real seconds: never compiled
        )
        note = (
            f"SIMULATED build of {request.cpv} by build-swarm (attempt {request.attempt_id}).\n"
            f"Real build time {seconds:.0f} s, scaled by {self.time_scale}.\n"
        )
        pf = request.cpv.split("/", 1)[1]
        staging.mkdir(parents=True, exist_ok=True)
        # not synced: the coordinator checks the file against the reported sha256; a crash loses it with the build
        artifact = write_gpkg(staging, meta, {f"usr/share/doc/{pf}/BUILD-SWARM-SIMULATED": note.encode()}, durable=False)
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        self._wait(request, deadline, seconds)
        log = f">>> Simulated emerge of {request.cpv} ({seconds:.0f} s real, x{self.time_scale})\n>>> Completed {request.cpv}\n"
        self._log(request, log.rstrip("\n"))
        return BuildOutput(artifact=artifact, sha256=digest, size=artifact.stat().st_size, log_tail=log, build_seconds=seconds)

    def _maybe_fail(self, request: BuildRequest, deadline: float, seconds: float) -> None:
        """Fail on purpose (at the end of the build time) the way emerge fails: a compile error, or (``infra:``) a full disk."""
        names = {request.cpv, history_key(request.cpv), "*"}
        if not (names & self.fail or any(INFRA_PREFIX + n in self.fail for n in names)):
            return
        self._wait(request, deadline, seconds)
        try:
            self._fail(request, names)
        except BuildFailed as exc:
            self._log(request, exc.log_tail.rstrip("\n"))
            raise

    def _maybe_time_out(self, request: BuildRequest, started: float, seconds: float) -> None:
        """A transient failure (``Chaos.transient``): the fetch times out part way, and a retry succeeds."""
        at = self.chaos.fails_at(request.cpv, request.retry)
        if at is None:
            return
        self._wait(request, started + at * seconds * self.time_scale, seconds)
        name = request.cpv.split("/", 1)[1]
        tail = (f">>> Emerging (1 of 1) {request.cpv}::{request.repo}\n>>> Downloading 'https://distfiles.example/{name}.tar.xz'\n"
                f"Connecting to distfiles.example... failed: Connection timed out.\n!!! Couldn't download '{name}.tar.xz'. Aborting.\n"
                f" * SIMULATED transient failure (SWARM_SIMULATE_TRANSIENT)\n")
        self._log(request, tail.rstrip("\n"))
        raise BuildFailed("simulated transient failure: fetch timed out", tail)

    def _fail(self, request: BuildRequest, names: set[str]) -> None:
        where = f"{request.cpv}::{request.repo}"
        if any(INFRA_PREFIX + n in self.fail for n in names):
            raise BuildFailed("simulated infrastructure failure", (
                f">>> Emerging (1 of 1) {where}\n"
                f"/usr/lib/gcc/x86_64-pc-linux-gnu/15/../../../../x86_64-pc-linux-gnu/bin/ld: final link failed: No space left on device\n"
                f"collect2: error: ld returned 1 exit status\n"
                f" * ERROR: {where} failed (compile phase):\n *   emake failed\n"))
        if names & self.fail:
            raise BuildFailed("simulated failure", (
                f">>> Emerging (1 of 1) {where}\nmain.c:12:5: error: implicit declaration of function 'frob' [-Wimplicit-function-declaration]\n"
                f"make: *** [Makefile:20: main.o] Error 1\n * ERROR: {where} failed (compile phase):\n *   emake failed\n"
                f" * SIMULATED failure (SWARM_SIMULATE_FAIL)\n"))
