"""Provisioning a drone host over SSH: `build-swarm drone provision HOST --name NAME`.

From a host with python3 and OpenRC or systemd to a drone that said hello: the coordinator's wheels pushed and checked
by sha256, a release venv made and switched in, drone.conf (0600) with the drone's token, the service of deploy/
installed, enabled and (re)started, the hello awaited, the host added to the fleet inventory. Every step compares
first: run twice, the second run changes nothing. The layout and the shell are :mod:`swarm_celery.domain.provision`;
:class:`Installer` is shared with the rolling deploy (:mod:`swarm_celery.services.deploy`).

Collaborators: a :class:`~swarm_celery.ports.RemoteShell` and :class:`~swarm_celery.ports.RemoteFiles` (Fabric),
a :class:`~swarm_celery.ports.TokenIssuer`, a :class:`~swarm_celery.ports.DroneRoster` (the record's view of the
drones), the :class:`~swarm_celery.ports.Inventory` file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from swarm_celery.domain.bootstrap_script import bootstrap_script
from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.payload import Payload
from swarm_celery.domain.provision import (
    CONF,
    DIRECTORIES,
    HOME,
    MIN_PYTHON,
    WHEELS,
    HostState,
    ServicePlan,
    drone_conf_text,
    install_command,
    parse_state,
    prune_command,
    service_plan,
    state_command,
    switch_command,
)
from swarm_celery.errors import ProvisionError
from swarm_celery.ports import Clock, DroneRoster, Inventory, RemoteFiles, RemoteShell, TokenIssuer

Progress = Callable[[str], None]
UNIT_PATHS = tuple(dict.fromkeys(remote for manager in ("openrc", "systemd") for _, remote, _ in service_plan(manager, "x").files))
TOKEN = "SWARM_DRONE_TOKEN"


@dataclass(frozen=True, slots=True)
class Reach:
    """What every drone.conf says about reaching the swarm (the coordinator's view of itself from a drone)."""

    broker_url: str
    coordinator_url: str
    binhost_url: str  # the binhost's root; the drone's arch is appended


@dataclass(frozen=True, slots=True)
class DroneOrder:
    name: str
    host: DroneHost | None  # how to reach it (the inventory's defaults and the HOST given); None: by hand (bootstrap-script)
    arch: str = "amd64"
    builder: str = "emerge"
    settings: tuple[tuple[str, str], ...] = ()  # more SWARM_* lines for its drone.conf


@dataclass
class Provisioned:
    name: str
    host: str
    manager: str = ""
    release: str = ""
    changed: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)  # the wheels copied there

    def to_json(self) -> dict[str, object]:
        return {"drone": self.name, "host": self.host, "manager": self.manager, "release": self.release, "changed": self.changed,
                "pushed": self.pushed}


class Installer:
    """The steps provisioning and deploying share, on one host: read its state, push the wheels, make and switch the release,
    run the service, wait for the drone's hello."""

    def __init__(self, shell: RemoteShell, files: RemoteFiles, payload: Payload, wheelhouse: Path, roster: DroneRoster, clock: Clock,
                 sleep: Callable[[float], None], timeout: float = 600.0) -> None:
        self.shell, self.files, self.payload, self.wheelhouse = shell, files, payload, wheelhouse
        self.roster, self.clock, self.sleep, self.timeout = roster, clock, sleep, timeout

    def run(self, host: DroneHost, command: str, what: str) -> str:
        code, out, err = self.shell.run(host, command, self.timeout)
        if code != 0:
            raise ProvisionError(f"{host.name}: {what} failed (exit {code}): {(err or out).strip()[-400:]}")
        return out

    def state(self, host: DroneHost) -> HostState:
        state = parse_state(self.run(host, state_command(UNIT_PATHS), "reading the host"))
        if not state.complete:
            raise ProvisionError(f"{host.name}: the host's answer was cut off: try again")
        if state.python[:2] < MIN_PYTHON:
            found = ".".join(map(str, state.python)) or "none"
            raise ProvisionError(f"{host.name}: build-swarm needs python3 {'.'.join(map(str, MIN_PYTHON))} or newer there (found "
                                 f"{found}): emerge dev-lang/python, then run this again")
        return state

    def push(self, host: DroneHost, state: HostState) -> list[str]:
        """The wheels the host lacks, or has with another sha256, each checked by sha256 there after the copy."""
        missing = [w for w in self.payload.wheels if state.wheels.get(w.name) != w.sha256]
        if missing:
            self.run(host, f"mkdir -p {WHEELS}", "making the wheel directory")
        for wheel in missing:
            self.files.upload(host, str(self.wheelhouse / wheel.name), f"{WHEELS}/{wheel.name}", 0o644)
        if missing:
            sums = "".join(f"{w.sha256}  {WHEELS}/{w.name}\n" for w in missing)
            self.run(host, f"printf '%s' '{sums}' | sha256sum -c --quiet -", "checking the copied wheels by sha256")
        return [w.name for w in missing]

    def install(self, host: DroneHost) -> None:
        self.run(host, install_command(self.payload), f"installing build-swarm {self.payload.short}")

    def switch(self, host: DroneHost, release: str) -> None:
        self.run(host, switch_command(release), f"switching to release {release}")

    def prune(self, host: DroneHost, keep: tuple[str, ...]) -> None:
        self.run(host, prune_command(keep), "removing old releases")

    def wait_hello(self, name: str, version: str, digest: str, timeout: float) -> None:
        """Until the record shows drone ``name`` online and announcing ``version`` with ``digest``."""
        deadline = self.clock.now() + timeout
        while True:
            view = next((d for d in self.roster.fleet() if d.name == name), None)
            if view is not None and view.state == "online" and (view.payload_version, view.payload_hash) == (version, digest):
                return
            if self.clock.now() > deadline:
                seen = f"it runs {view.payload_version} ({view.payload_hash[:12] or '?'}), {view.state}" if view else "it never said hello"
                raise ProvisionError(f"{name}: no hello from build-swarm {version} ({digest[:12]}) within {timeout:.0f} s ({seen}): "
                                     f"see its log (/var/log/build-swarm/ or journalctl -u build-swarm-drone@{name})")
            self.sleep(0.5)


class Provisioner:
    def __init__(self, installer: Installer, tokens: TokenIssuer, inventory: Inventory | None, reach: Reach, unit_files: Mapping[str, bytes],
                 hello_timeout: float = 120.0) -> None:
        self.installer = installer
        self.tokens = tokens
        self.inventory = inventory
        self.reach = reach
        self.unit_files = unit_files  # deploy/'s files by their path under deploy/
        self.hello_timeout = hello_timeout

    def provision(self, order: DroneOrder, progress: Progress = lambda _: None) -> Provisioned:
        host, payload = order.host, self.installer.payload
        if host is None or self.inventory is None:
            raise ProvisionError(f"{order.name}: provisioning needs the host's address and the fleet inventory (SWARM_FLEET_FILE)")
        done = Provisioned(order.name, host.host, release=payload.release)
        progress(f"{order.name}: reading {host.user}@{host.host}:{host.port}")
        state = self.installer.state(host)
        try:
            plan = service_plan(state.manager, order.name)
        except ValueError as exc:
            raise ProvisionError(f"{order.name}: {exc}") from None
        done.manager = state.manager
        done.pushed = self.installer.push(host, state)
        if done.pushed:
            done.changed.append(f"{len(done.pushed)} wheels copied to {WHEELS}")
        if state.release_name != payload.release:
            progress(f"{order.name}: installing build-swarm {payload.short} (a venv in {payload.release})")
            self.installer.install(host)
            self.installer.switch(host, payload.release)
            done.changed.append(f"build-swarm {payload.short}")
        self.installer.run(host, DIRECTORIES, f"making /etc/build-swarm and {HOME}")
        done.changed += self._conf(order, state) + self._units(host, plan, state)
        self.installer.run(host, plan.enable, f"enabling {plan.service}")
        self._start(order.name, host, plan, restart=bool(done.changed), progress=progress)
        if self.inventory.save(order.name, self._entry(host, plan)):
            done.changed.append("fleet inventory")
        self.installer.prune(host, (payload.release, state.release_name))
        return done

    def script(self, order: DroneOrder, wheel: bytes) -> str:
        """`build-swarm bootstrap-script`: all of provisioning as one script, with a new token for the drone."""
        conf = drone_conf_text({**self._wanted(order), TOKEN: self.tokens.issue(order.name)})
        return bootstrap_script(order.name, self.installer.payload, wheel, conf, self.unit_files)

    def _wanted(self, order: DroneOrder) -> dict[str, str]:
        return {"SWARM_BROKER_URL": self.reach.broker_url, "SWARM_COORDINATOR_URL": self.reach.coordinator_url,
                "SWARM_DRONE_NAME": order.name, "SWARM_ARCH": order.arch, "SWARM_BUILDER": order.builder,
                "SWARM_BINHOST_URL": f"{self.reach.binhost_url.rstrip('/')}/{order.arch}", "SWARM_HOME": HOME,
                **dict(order.settings)}

    def _conf(self, order: DroneOrder, state: HostState) -> list[str]:
        """drone.conf with these settings and a token the coordinator knows as this drone's (the one there when it still is)."""
        wanted = self._wanted(order)
        token = state.conf.get(TOKEN, "")
        valid = bool(token) and self.tokens.drone_for(token) == order.name
        if valid and {k: v for k, v in state.conf.items() if k != TOKEN} == wanted:
            return []
        token = token if valid else self.tokens.issue(order.name)
        assert order.host is not None
        self.installer.files.write(order.host, drone_conf_text({**wanted, TOKEN: token}).encode(), CONF, 0o600)
        return [CONF + ("" if valid else " (a new token)")]

    def _units(self, host: DroneHost, plan: ServicePlan, state: HostState) -> list[str]:
        changed = []
        for source, remote, mode in plan.files:
            data = self.unit_files[source]
            if state.units.get(remote) != hashlib.sha256(data).hexdigest():
                self.installer.run(host, f"mkdir -p \"$(dirname {remote})\"", f"making the directory of {remote}")
                self.installer.files.write(host, data, remote, mode)
                changed.append(remote)
        return changed

    def _start(self, name: str, host: DroneHost, plan: ServicePlan, restart: bool, progress: Progress) -> None:
        progress(f"{name}: {'restarting' if restart else 'checking'} {plan.service}, waiting for its hello")
        self.installer.run(host, plan.restart if restart else plan.ensure_running, f"starting {plan.service}")
        payload = self.installer.payload
        self.installer.wait_hello(name, payload.version, payload.digest, self.hello_timeout)

    @staticmethod
    def _entry(host: DroneHost, plan: ServicePlan) -> dict[str, str | int]:
        entry: dict[str, str | int] = {"host": host.host}
        if host.port != 22:
            entry["port"] = host.port
        entry |= {"type": host.type, "service": plan.service}
        if plan.manager == "openrc":
            entry["pidfile"] = "/run/build-swarm-drone.pid"
        return entry

