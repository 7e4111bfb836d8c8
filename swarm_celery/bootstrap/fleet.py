"""Fleet operations on drone hosts over SSH: provisioning, the rolling deploy, the golden-drone audit (on demand and
beat's daily one), and the files of deploy/ and drone-image/ they use."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from celery import Celery

import swarm_celery
from swarm_celery.bootstrap.core import celery_app, drone_tokens, inventory, queries, store
from swarm_celery.clock import SystemClock
from swarm_celery.domain.audit import DroneSpec, parse_spec
from swarm_celery.domain.fleet import DroneHost, host_from
from swarm_celery.domain.payload import Payload
from swarm_celery.domain.provision import service_plan
from swarm_celery.drone.identity import payload_hash, payload_version
from swarm_celery.errors import ConfigError
from swarm_celery.fleet.inventory import InventoryFile
from swarm_celery.fleet.payload import load_payload
from swarm_celery.fleet.ssh import FabricShell
from swarm_celery.services.audit import DriftWatch, FleetAuditor
from swarm_celery.services.deploy import RollingDeploy, select
from swarm_celery.services.provision import DroneOrder, Installer, Provisioner, Reach
from swarm_celery.services.remote_control import ControlClient
from swarm_celery.settings import Settings
from swarm_celery.tasks.messaging import CeleryMessenger

CHECKOUT = Path(swarm_celery.__file__).resolve().parents[1]


def shipped(relative: str) -> Path:
    """A file of deploy/ or drone-image/: this checkout's, else the one installed with build-swarm (share/build-swarm/)."""
    for base in (CHECKOUT, Path(sys.prefix) / "share" / "build-swarm"):
        if (base / relative).is_file():
            return base / relative
    raise ConfigError(f"{relative} is not in {CHECKOUT} nor in {Path(sys.prefix) / 'share' / 'build-swarm'}: reinstall build-swarm "
                      "from its wheel or a checkout")


def drone_spec(settings: Settings) -> DroneSpec:
    """The golden drone spec (SWARM_DRONE_SPEC, else the shipped drone-image/spec.toml)."""
    path = settings.drone_spec or shipped("drone-image/spec.toml")
    try:
        return parse_spec(path.read_text(), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read the drone spec {path}: {exc.strerror} (SWARM_DRONE_SPEC)") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def fleet_auditor(settings: Settings) -> FleetAuditor:
    return FleetAuditor(FabricShell(settings.ssh_timeout), inventory(settings), drone_spec(settings), timeout=max(60.0, settings.ssh_timeout))


def drift_watch(settings: Settings) -> DriftWatch:
    """Beat's daily audit: drift is an event; with SWARM_AUDIT_HOLD the drone is held."""
    return DriftWatch(fleet_auditor(settings), store(settings), hold=settings.audit_hold)


def payload(settings: Settings, wheel: Path | None = None) -> Payload:
    """What drones get: ``wheel``, else the wheelhouse's wheel of this coordinator's own build-swarm (built from the checkout)."""
    checkout = CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else None
    return load_payload(settings.wheelhouse, payload_version(), payload_hash(), wheel, checkout)


def _installer(settings: Settings, wheel: Path | None) -> Installer:
    shell = FabricShell(settings.ssh_timeout)
    return Installer(shell, shell, payload(settings, wheel), settings.wheelhouse, queries(settings), SystemClock(), time.sleep)


def provisioner(settings: Settings, wheel: Path | None = None, hello_timeout: float = 120.0) -> Provisioner:
    if settings.fleet_file is None:
        raise ConfigError("set SWARM_FLEET_FILE: provisioning adds the drone to that inventory and connects with its [defaults] "
                          "(user, key_file, known_hosts)")
    return Provisioner(_installer(settings, wheel), drone_tokens(settings), InventoryFile(settings.fleet_file), reach(settings),
                       _unit_files(), hello_timeout=hello_timeout)


def bootstrap_script(settings: Settings, name: str, arch: str, builder: str, extra: Sequence[tuple[str, str]] = (),
                     wheel: Path | None = None) -> str:
    """All of provisioning as one script for a host the coordinator cannot reach (a new token for ``name``)."""
    provisioning = Provisioner(_installer(settings, wheel), drone_tokens(settings), None, reach(settings), _unit_files())
    chosen = provisioning.installer.payload
    order = DroneOrder(name=name, host=None, arch=arch, builder=builder, settings=tuple(extra))
    return provisioning.script(order, (settings.wheelhouse / chosen.wheel).read_bytes())


def _unit_files() -> dict[str, bytes]:
    return {source: shipped(f"deploy/{source}").read_bytes() for manager in ("openrc", "systemd")
            for source, _, _ in service_plan(manager, "x").files}


def reach(settings: Settings) -> Reach:
    """How drones reach this swarm: the broker, the coordinator's API, the binhost."""
    broker = settings.drone_broker_url or settings.broker_url
    if not broker:
        raise ConfigError("no broker: set SWARM_BROKER_URL (and SWARM_DRONE_BROKER_URL when drones reach it by another address)")
    api = settings.coordinator_url or f"http://{socket.getfqdn()}:{settings.api_port}"
    return Reach(broker, api.rstrip("/"), (settings.binhost_url or f"{api.rstrip('/')}/binhost").rstrip("/"))


def drone_order(settings: Settings, name: str, address: str, *, port: int | None, kind: str, arch: str, builder: str,
                extra: Sequence[tuple[str, str]] = ()) -> DroneOrder:
    """A drone to provision: reached as the inventory's [defaults] say (its existing entry's port when none is given)."""
    assert settings.fleet_file is not None
    inventory_file = InventoryFile(settings.fleet_file)
    known = inventory_file.drones().get(name)
    entry: dict[str, object] = {"host": address, "type": kind, "port": port or (known.port if known else 22)}
    try:
        host: DroneHost = host_from(name, inventory_file.defaults(), entry, str(settings.fleet_file))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return DroneOrder(name=name, host=host, arch=arch, builder=builder, settings=tuple(extra))


def rolling_deploy(settings: Settings, wheel: Path | None = None, drain_timeout: float = 3600.0, hello_timeout: float = 120.0,
                   app: Celery | None = None) -> RollingDeploy:
    controls = ControlClient(CeleryMessenger(app or celery_app(settings)), queries(settings), SystemClock(), time.sleep)
    return RollingDeploy(_installer(settings, wheel), controls, drain_timeout=drain_timeout, hello_timeout=hello_timeout)


def select_drones(settings: Settings, names: Sequence[str], every: bool) -> list[DroneHost]:
    """The inventory's drones named (in that order), or all of them."""
    return select(inventory(settings), names, every)
