"""Ports for everything that is not the store: clock, resolver, broker, publisher, fleet access, files.

Adapters live in resolve/, tasks/, binhost/, fleet/; the composition root
(:mod:`swarm_celery.bootstrap`) hands them to the services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.controls import ControlRequest
from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.model import BuildRequest, Plan
from swarm_celery.domain.profiles import BuildProfile, MachineConfig
from swarm_celery.domain.records import PackageInfo, PublishedArtifact
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.errors import ArtifactError


class Clock(Protocol):
    def now(self) -> float: ...


class Resolver(Protocol):
    def resolve(self, request: ResolveRequest, allow_missing: bool = False) -> Plan: ...


class Broker(Protocol):
    """The message broker as the coordinator drives it: builds out, revokes, wake-ups, drones' consumers.
    Every method raises BrokerError (never a transport's own exception) when the broker cannot be reached."""

    def send_builds(self, builds: Sequence[tuple[BuildRequest, str]]) -> None: ...  # (request, queue); task id = attempt id
    def revoke(self, attempt_ids: Sequence[str], terminate: bool = True) -> None: ...
    def wake(self, arch: str, after_seconds: float) -> None: ...  # run dispatch for ``arch`` again later
    def stop_consuming(self, drone: str, queues: Sequence[str]) -> None: ...  # the drone's worker takes nothing more
    def start_consuming(self, drone: str, queues: Sequence[str]) -> None: ...


class BrokerCensus(Protocol):
    # ids of every attempt the broker holds a message for (builds queued or in a worker's hands, reports on their way);
    # None when the transport cannot tell
    def held(self) -> frozenset[str] | None: ...
    def epoch(self) -> str: ...  # changes when the broker restarts ("" when the transport cannot tell)


class BuildConfigs(Protocol):
    """The plans' portage configurations, as drones fetch them by hash (domain.build_config)."""

    def publish(self, request: ResolveRequest) -> str: ...  # make the configuration of ``request`` available; its hash


class PlanQueue(Protocol):
    """The coordinator queue as queueing a session uses it (BrokerError when the broker cannot be reached)."""

    def send_plan(self, session_id: str) -> None: ...


class ControlQueue(Protocol):
    def send_control(self, request: ControlRequest) -> None: ...  # BrokerError when the broker cannot be reached


class Publisher(Protocol):
    # one index rewrite for the batch; per item what was published or why it was rejected
    def publish_many(self, arch: str, items: Sequence[tuple[Path, str, PackageInfo]],
                     simulated_ok: bool = False) -> list[PublishedArtifact | ArtifactError]: ...


class RemoteShell(Protocol):
    # run a POSIX shell command on the host: (exit status, stdout, stderr); RemoteError when it cannot be reached
    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]: ...


class Pinger(Protocol):
    # names of the drones whose workers answered a ping within ``timeout`` (it may stop waiting after ``expect`` replies)
    def answering(self, timeout: float, expect: int) -> frozenset[str]: ...


class Alerter(Protocol):
    def alert(self, payload: Mapping[str, object]) -> str: ...  # "" when delivered, else why not


class MachineFiles(Protocol):
    def read(self, host: str, root: str) -> MachineConfig: ...  # ConfigError when the host cannot be read


class RequestBuilder(Protocol):
    def __call__(self, profile: BuildProfile) -> ResolveRequest: ...  # ConfigError when the inputs cannot be read


class TreeFiles(Protocol):
    def fingerprint(self, tree: Path) -> str: ...
    def take(self, tree: Path, fingerprint: str, reason: str) -> Snapshot: ...  # writes the tarball
    def remove(self, snapshot: Snapshot) -> None: ...
