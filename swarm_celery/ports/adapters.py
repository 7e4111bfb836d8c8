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
from swarm_celery.domain.views import DroneView
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
    # whether the arch's staging tree still holds a file it published (``binhost purge --budget`` may have pruned it)
    def holds(self, arch: str, path: str) -> bool: ...


class RemoteShell(Protocol):
    # run a POSIX shell command on the host: (exit status, stdout, stderr); RemoteError when it cannot be reached
    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]: ...


class RemoteFiles(Protocol):
    """Files onto a host over SSH (SFTP); RemoteError when it cannot be reached or refuses."""

    def upload(self, host: DroneHost, local: str, remote: str, mode: int) -> None: ...  # a local file, streamed
    def write(self, host: DroneHost, data: bytes, remote: str, mode: int) -> None: ...  # given ``mode`` before a byte is in it


class TokenIssuer(Protocol):
    def issue(self, drone: str) -> str: ...  # a new token for the drone (its old one stops working)
    def drone_for(self, token: str) -> str | None: ...  # whose token it is (None: nobody's)


class DroneRoster(Protocol):
    def fleet(self) -> list[DroneView]: ...  # every drone the coordinator has heard from (the record's view)


class DroneControls(Protocol):
    """Pause and resume one drone through the coordinator (it is the record's only writer) and wait for its answer:
    ControlFailed when it refuses, UserError when it does not answer, BrokerError when the broker is down."""

    def pause(self, drone: str) -> str: ...
    def resume(self, drone: str) -> str: ...


class Inventory(Protocol):
    """The fleet inventory file (SWARM_FLEET_FILE) as provisioning edits it; ConfigError when it cannot."""

    def defaults(self) -> dict[str, object]: ...  # its [defaults] table (how every host is reached)
    def drones(self) -> dict[str, DroneHost]: ...
    def save(self, name: str, values: Mapping[str, str | int]) -> bool: ...  # set [drones.NAME]; True when the file changed


class Pinger(Protocol):
    # which of the drones ``names`` answered a ping within ``timeout`` (it stops waiting once all of them did)
    def answering(self, timeout: float, names: Sequence[str]) -> frozenset[str]: ...


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
