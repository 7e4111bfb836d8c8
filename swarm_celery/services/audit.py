"""The golden-drone audit over SSH: `build-swarm drone audit [NAMES]`, and beat's daily ``swarm.audit_fleet``.

One SSH command per host gathers its facts (:func:`swarm_celery.domain.audit.facts_command`), the domain judges them
against the spec (drone-image/spec.toml, or SWARM_DRONE_SPEC): PASS, WARN or FAIL per check. Beat records a drone that
fails as ``drone.drift`` and, with SWARM_AUDIT_HOLD, holds it (pauses it: no new work) until a person fixes it and runs
`build-swarm control resume --drone NAME`; the next audit holds it again while it still fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from swarm_celery.domain.audit import Check, DroneSpec, Status, exit_code, facts_command, judge
from swarm_celery.domain.audit_facts import parse_facts
from swarm_celery.domain.fleet import DroneHost
from swarm_celery.errors import RemoteError, UserError
from swarm_celery.ports import AuditStore, RemoteShell

PARALLEL = 8


@dataclass(frozen=True, slots=True)
class DroneAudit:
    drone: str
    checks: tuple[Check, ...]

    @property
    def code(self) -> int:
        return exit_code(list(self.checks))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == Status.FAIL]

    def to_json(self) -> dict[str, object]:
        return {"drone": self.drone, "exit": self.code, "checks": [c.to_json() for c in self.checks]}


class FleetAuditor:
    def __init__(self, shell: RemoteShell, inventory: Mapping[str, DroneHost], spec: DroneSpec, timeout: float = 60.0) -> None:
        self.shell = shell
        self.inventory = dict(inventory)
        self.spec = spec
        self.timeout = timeout

    def audit(self, names: Sequence[str] = (), progress: Callable[[DroneAudit], None] | None = None) -> list[DroneAudit]:
        """The drones named (default: every drone of the inventory), audited in parallel, reported in name order."""
        unknown = [n for n in names if n not in self.inventory]
        if unknown:
            raise UserError(f"{', '.join(unknown)} not in the fleet inventory (SWARM_FLEET_FILE): the audit reaches drones over SSH")
        hosts = [self.inventory[n] for n in (names or sorted(self.inventory))]
        if not hosts:
            return []
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(hosts)), thread_name_prefix="audit") as pool:
            audits = list(pool.map(self.one, hosts))
        for found in audits:
            if progress is not None:
                progress(found)
        return audits

    def one(self, host: DroneHost) -> DroneAudit:
        try:
            code, out, err = self.shell.run(host, facts_command(self.spec), self.timeout)
        except RemoteError as exc:
            return DroneAudit(host.name, (Check("ssh", Status.FAIL, str(exc)),))
        checks = judge(self.spec, parse_facts(out))
        if code != 0:
            checks.insert(0, Check("facts", Status.WARN, f"the facts command exited {code}: {err.strip()[-200:]}"))
        return DroneAudit(host.name, tuple(checks))


UNREAD = {"ssh", "facts"}  # checks that fail when the host could not be read: not a drift


class DriftWatch:
    """Beat's side: audit every drone, record drift as an event, and hold a drifted drone when told to.

    A drone that is paused (by a person, by a deploy upgrading it, or held already) is left out: its service may be
    restarting, and it takes no work anyway. A host that could not be read is ``drone.audit_failed``, never a hold."""

    def __init__(self, auditor: FleetAuditor, store: AuditStore, hold: bool) -> None:
        self.auditor = auditor
        self.store = store
        self.hold = hold

    def round(self) -> list[DroneAudit]:
        audits = self.auditor.audit()
        self.record(audits)
        return audits

    def record(self, audits: Sequence[DroneAudit]) -> None:
        paused = {load.name for load in self.store.drone_loads(self.auditor.spec.arch) if load.paused}
        for found in audits:
            drift = [c for c in found.failed if c.name not in UNREAD]
            if found.drone in paused:
                continue
            if drift:
                self._drifted(found.drone, drift)
            elif found.failed:
                self.store.add_event("drone.audit_failed", f"{found.drone}: the audit could not read the host: "
                                                           f"{found.failed[0].message}"[:1500], None, found.drone)

    def _drifted(self, drone: str, failed: list[Check]) -> None:
        what = "; ".join(f"{c.name}: {c.message}" for c in failed)[:1500]
        self.store.add_event("drone.drift", f"{drone} does not match the golden drone: {what}", None, drone)
        if self.hold and self.store.set_drone_paused(drone, True):
            self.store.add_event("drone.held", f"{drone} is held (no new work) for its drift: fix it, check with "
                                               f"`build-swarm drone audit {drone}`, then `build-swarm control resume "
                                               f"--drone {drone}`", None, drone)
