"""The rolling deploy: `build-swarm drone deploy [NAMES|--all]` upgrades the drones' build-swarm one drone at a time.

For each drone: the release is made next to the running one (the drone keeps building), then the drone is paused
(through the coordinator: it gets no new work), its running builds finish (or ``drain_timeout`` passes: the restart
then stops them, and the coordinator places them again under new attempts), ``venv`` is switched to the new release,
the service restarted, and the deploy waits for the hello that names the new version and digest before it resumes the
drone. Nothing is lost and nothing counts twice: a build taken back is fenced (its old attempt is ignored).
A failure stops the roll: that drone is switched back to the release it ran and restarted, and the rest are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.provision import restore_by_hand_command, service_plan
from swarm_celery.domain.views import DroneView
from swarm_celery.errors import ProvisionError, RemoteError, UserError
from swarm_celery.ports import DroneControls
from swarm_celery.services.provision import Installer, Progress


@dataclass(frozen=True, slots=True)
class Deployed:
    drone: str
    before: str  # the version it ran ("" when it never said hello)
    after: str
    outcome: str  # "upgraded" | "already" | "rolled back"
    drained: bool = True  # its running builds finished before the restart (False: the drain timed out)

    def to_json(self) -> dict[str, object]:
        return {"drone": self.drone, "before": self.before, "after": self.after, "outcome": self.outcome, "drained": self.drained}


class RollingDeploy:
    def __init__(self, installer: Installer, controls: DroneControls, drain_timeout: float = 3600.0, hello_timeout: float = 120.0) -> None:
        self.installer = installer
        self.controls = controls
        self.drain_timeout = drain_timeout
        self.hello_timeout = hello_timeout

    def roll(self, hosts: Sequence[DroneHost], progress: Progress = lambda _: None) -> list[Deployed]:
        """Each drone in turn; ProvisionError at the first failure (after that drone is back on its old release)."""
        done: list[Deployed] = []
        for index, host in enumerate(hosts):
            try:
                done.append(self.one(host, progress))
            except (ProvisionError, RemoteError) as exc:
                left = ", ".join(h.name for h in hosts[index + 1:]) or "none"
                upgraded = ", ".join(d.drone for d in done if d.outcome == "upgraded") or "none"
                raise ProvisionError(f"{exc}. The roll stopped: upgraded {upgraded}; not tried {left}") from None
        return done

    def one(self, host: DroneHost, progress: Progress) -> Deployed:
        payload, name = self.installer.payload, host.name
        before = self._view(name)
        version = f"{before.payload_version} ({before.payload_hash[:12]})" if before else ""
        if before is not None and (before.payload_version, before.payload_hash) == (payload.version, payload.digest):
            progress(f"{name}: already runs build-swarm {payload.short}")
            return Deployed(name, version, payload.short, "already")
        state = self.installer.state(host)
        plan = service_plan(state.manager, name)
        progress(f"{name}: installing build-swarm {payload.short} next to {state.release_name or 'what runs there'}")
        self.installer.push(host, state)
        self.installer.install(host)
        paused_before = bool(before and before.paused)
        if not paused_before:
            self.controls.pause(name)
        drained = self._drain(name, progress)
        try:
            progress(f"{name}: switching to {payload.release}, restarting {plan.service}, waiting for its hello")
            self.installer.switch(host, payload.release)
            self.installer.run(host, plan.restart, f"restarting {plan.service}")
            self.installer.wait_hello(name, payload.version, payload.digest, self.hello_timeout)
        except (ProvisionError, RemoteError) as exc:
            self._roll_back(host, state.release, before, plan.restart, progress)
            if not paused_before:
                self.controls.resume(name)
            raise ProvisionError(f"{exc}; {name} is back on {state.release_name or 'the venv it had'}") from None
        if not paused_before:
            self.controls.resume(name)
        self.installer.prune(host, (payload.release, state.release_name))
        return Deployed(name, version, payload.short, "upgraded", drained)

    def _view(self, name: str) -> DroneView | None:
        return next((d for d in self.installer.roster.fleet() if d.name == name), None)

    def _drain(self, name: str, progress: Progress) -> bool:
        """Until the drone runs nothing (True), or ``drain_timeout`` passed (False)."""
        clock = self.installer.clock
        deadline, told = clock.now() + self.drain_timeout, False
        while (view := self._view(name)) is not None and view.in_flight:
            if clock.now() > deadline:
                progress(f"{name}: {view.in_flight} builds still running after {self.drain_timeout:.0f} s: restarting anyway "
                         "(they are taken back and placed again)")
                return False
            if not told:
                progress(f"{name}: paused; waiting for its {view.in_flight} running builds")
                told = True
            self.installer.sleep(0.5)
        return True

    def _roll_back(self, host: DroneHost, release: str, before: DroneView | None, restart: str, progress: Progress) -> None:
        """Back to ``release`` (what ``venv`` pointed at: a release, or "directory" for a venv made by hand)."""
        if not release:
            return
        progress(f"{host.name}: the new release failed: back to {release.rsplit('/', 1)[-1]}")
        if release == "directory":
            self.installer.run(host, restore_by_hand_command(), "putting back the venv made by hand")
        else:
            self.installer.switch(host, release.rsplit("/", 1)[-1])
        self.installer.run(host, restart, "restarting on the old release")
        if before is not None and before.payload_hash:
            self.installer.wait_hello(host.name, before.payload_version, before.payload_hash, self.hello_timeout)


def select(inventory: dict[str, DroneHost], names: Sequence[str], every: bool) -> list[DroneHost]:
    """The drones named (in that order), or every drone of the inventory."""
    if every == bool(names):
        raise UserError("name the drones to deploy to, or --all (not both)")
    unknown = [n for n in names if n not in inventory]
    if unknown:
        raise UserError(f"{', '.join(unknown)} not in the fleet inventory: provision them first (`build-swarm drone provision`)")
    return [inventory[n] for n in names] if names else [inventory[n] for n in sorted(inventory)]

