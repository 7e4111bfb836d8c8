"""The fleet doctor (beat: ``swarm.probe_fleet``): probe every drone, record its health, hold a drone whose
portage tree is stale, and walk the self-healing ladder (domain.healing) for one that stops answering.

Collaborators: a :class:`~swarm_celery.ports.Pinger` (Celery ``inspect ping``), a
:class:`~swarm_celery.ports.RemoteShell` (Fabric over SSH) to the hosts of the inventory, a
:class:`~swarm_celery.ports.HealthStore` for rows and events, and an optional
:class:`~swarm_celery.ports.Alerter` (webhook) for the ladder's last step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from swarm_celery.domain.fleet import (
    DETECT_MANAGER,
    DroneCheck,
    DroneHost,
    ProbeLimits,
    hard_restart_command,
    judge,
    parse_probe,
    probe_command,
    service_command,
    sync_command,
    sync_due,
)
from swarm_celery.domain.healing import DroneHealth, HealingPolicy, Level, next_level, recovered, silent, took
from swarm_celery.errors import RemoteError
from swarm_celery.ports import Alerter, Clock, HealthStore, Pinger, RemoteShell

PARALLEL_PROBES = 16  # SSH probes at once
Answer = tuple[int, str, str] | RemoteError  # a probe's (exit status, stdout, stderr), or why SSH failed


@dataclass(frozen=True, slots=True)
class FleetConfig:
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    healing: HealingPolicy = field(default_factory=HealingPolicy)
    ping_timeout: float = 2.0  # seconds the workers have to answer a ping
    command_timeout: float = 30.0  # seconds a probe or a ladder step may take over SSH
    sync_retry: float = 3600.0  # a drone whose tree is still stale this long after it was told to sync is told again


class FleetDoctor:
    def __init__(self, store: HealthStore, shell: RemoteShell, clock: Clock, inventory: Mapping[str, DroneHost], *,
                 pinger: Pinger | None = None, alerter: Alerter | None = None, config: FleetConfig | None = None,
                 coordinator_tree: Callable[[], str] = lambda: "") -> None:
        self.store = store
        self.shell = shell
        self.clock = clock
        self.inventory = dict(inventory)
        self.pinger = pinger
        self.alerter = alerter
        self.config = config or FleetConfig()
        self.coordinator_tree = coordinator_tree

    def probe_round(self, progress: Callable[[DroneCheck], None] | None = None) -> list[DroneCheck]:
        """Probe every drone of the inventory and every drone that ever announced itself; one row each.
        The SSH probes run in parallel; judging, recording and healing one drone after the other."""
        names = sorted(set(self.inventory) | set(self.store.known_drones()))
        answering = self._ping(names)
        tree = self.coordinator_tree()
        answers = self._gather([self.inventory[name] for name in names if name in self.inventory])
        checks = []
        for name in names:
            check = self.check(name, None if answering is None else name in answering, tree, answers.get(name))
            self.store.record_check(check)
            checks.append(check)
            if progress is not None:
                progress(check)
        return checks

    def _ping(self, names: Sequence[str]) -> frozenset[str] | None:
        """The drones that answer (None: no broker to ask)."""
        if self.pinger is None:
            return None
        return self.pinger.answering(self.config.ping_timeout, names) if names else frozenset()

    def check(self, name: str, answered: bool | None, coordinator_tree: str, answer: Answer | None = None) -> DroneCheck:
        """One drone: probe it over SSH (when the inventory has it), judge, hold or release it, heal it."""
        host = self.inventory.get(name)
        before = self.store.health(name)
        check = DroneCheck(name=name, at=self.clock.now(), answered=answered, reachable=None)
        if host is not None:
            check = self._probe(host, check, answer if answer is not None else self._ask(host), coordinator_tree, before)
        health = replace(before, error=check.error if check.reachable is False else "", findings=frozenset(f.kind for f in check.findings))
        health, synced = self._sync(host, check, health)
        health, actions = self._heal(host, answered, health)
        self.store.save_health(name, health)
        return replace(check, level=int(health.ladder.level), actions=tuple(synced + actions))

    def _gather(self, hosts: Sequence[DroneHost]) -> dict[str, Answer]:
        if not hosts:
            return {}
        with ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, len(hosts)), thread_name_prefix="probe") as pool:
            futures = {host.name: pool.submit(self._ask, host) for host in hosts}
            return {name: future.result() for name, future in futures.items()}

    def _ask(self, host: DroneHost) -> Answer:
        try:
            return self.shell.run(host, probe_command(host), self.config.command_timeout)
        except RemoteError as exc:
            return exc
        except Exception as exc:  # whatever else one host's SSH raises is that host's unreachable row, not the round's end
            return RemoteError(f"{host.name}: the probe failed ({type(exc).__name__}: {str(exc)[:200]})")

    def _probe(self, host: DroneHost, check: DroneCheck, answer: Answer, coordinator_tree: str, before: DroneHealth) -> DroneCheck:
        if isinstance(answer, RemoteError):
            if str(answer) != before.error:
                self.store.add_event("fleet.unreachable", str(answer), None, host.name)
            return replace(check, reachable=False, error=str(answer))
        code, out, err = answer
        if before.error:
            self.store.add_event("fleet.reachable", f"{host.name}: SSH works again", None, host.name)
        probe = parse_probe(out)
        findings = judge(host, probe, coordinator_tree, self.config.limits)
        for finding in findings:
            if finding.kind not in before.findings and finding.kind != "tree.stale":  # tree.stale: the hold's event
                self.store.add_event(f"drone.{finding.kind.replace('.', '_')}", finding.message, None, host.name)
        stale = next((f.message for f in findings if f.kind == "tree.stale"), "")
        self.store.set_tree_hold(host.name, stale)
        error = "" if code == 0 else f"probe exited {code}: {err.strip()[-300:]}"
        return replace(check, reachable=True, probe=probe, findings=findings, error=error)

    def _sync(self, host: DroneHost | None, check: DroneCheck, health: DroneHealth) -> tuple[DroneHealth, list[str]]:
        """Tell a drone whose tree is stale to sync (its ``sync`` command, detached); its hold stays until a
        probe finds the tree current. Told again after ``sync_retry`` if that did not help."""
        if host is None or check.reachable is not True:
            return health, []
        if not any(f.kind == "tree.stale" for f in check.findings):
            return replace(health, sync_asked_at=0.0), []
        now = self.clock.now()
        run = check.probe.sync if check.probe else None
        if not host.sync or not sync_due(health.sync_asked_at, now, self.config.sync_retry, run):
            return health, []
        command = sync_command(host)
        try:
            code, _, err = self.shell.run(host, command, self.config.command_timeout)
        except RemoteError as exc:
            message = self._event("drone.tree_sync_failed", f"{host.name}: could not start `{host.sync}`: {exc}", host)
        else:
            message = (self._event("drone.tree_sync_started", f"{host.name}: its tree is stale: started `{host.sync}` there (output in "
                                                      f"{host.sync_log}); it takes work once a probe finds the tree current", host)
                       if code == 0 else
                       self._event("drone.tree_sync_failed", f"{host.name}: could not start `{host.sync}`: exit {code}: "
                                                             f"{err.strip()[-300:]}", host))
        return replace(health, sync_asked_at=now), [message]

    # the healing ladder ----------------------------------------------------------------------------------------------
    def _heal(self, host: DroneHost | None, answered: bool | None, health: DroneHealth) -> tuple[DroneHealth, list[str]]:
        if answered is None or host is None:
            return health, []  # no ping asked, or no way to act on it
        now = self.clock.now()
        if answered:
            if health.ladder.level > Level.NONE:  # a missed ping within the grace is no news
                self.store.add_event("heal.recovered", f"{host.name} answers again (it was at level "
                                                       f"{health.ladder.level.label}); the ladder starts over", None, host.name)
            return replace(health, ladder=recovered(health.ladder)), []
        ladder = silent(health.ladder, now)
        level = next_level(ladder, now, self.config.healing)
        if level is None:
            return replace(health, ladder=ladder), []
        message = self._step(host, level)
        return replace(health, ladder=took(ladder, level, now)), [message]

    def _step(self, host: DroneHost, level: Level) -> str:
        """Take one level of the ladder; every outcome is an event, and returned."""
        if level == Level.ALERT:
            return self._alert(host)
        if level == Level.REBOOT and not host.rebootable:
            return self._event("heal.reboot_refused", f"{host.name}: not rebooted: it is {host.type}, and the ladder reboots "
                                                      "only LXC or QEMU guests; it alerts next", host)
        try:
            kind, command = self._command(host, level)
            code, _, err = self.shell.run(host, command, self.config.command_timeout)
        except RemoteError as exc:
            return self._event("heal.failed", f"{level.label} of {host.name} failed: {exc}", host)
        if code != 0:
            return self._event("heal.failed", f"{level.label} of {host.name} failed: `{command}` exited {code}: "
                                              f"{err.strip()[-300:]}", host)
        return self._event(f"heal.{kind}", f"{host.name} does not answer: ran `{command}` (level {int(level)}, "
                                           f"{level.label})", host)

    def _command(self, host: DroneHost, level: Level) -> tuple[str, str]:
        if level == Level.REBOOT:
            return "reboot", host.reboot
        code, out, _ = self.shell.run(host, DETECT_MANAGER, self.config.command_timeout)
        manager = out.strip() if code == 0 else "none"
        if manager not in ("openrc", "systemd"):
            raise RemoteError(f"{host.name}: neither rc-service (OpenRC) nor systemctl (systemd) is there to restart "
                              f"{host.service}")
        if level == Level.RESTART:
            return "restart", service_command(manager, host.service, "restart")
        return "hard_restart", hard_restart_command(host, manager)

    def _alert(self, host: DroneHost) -> str:
        message = (f"{host.name} ({host.host}) does not answer after restart, hard restart and "
                   f"{'reboot' if host.rebootable else 'no reboot (bare metal)'}: it needs a human")
        self._event("heal.alert", message, host)
        if self.alerter is None:
            return message
        failed = self.alerter.alert({"drone": host.name, "host": host.host, "type": host.type, "level": int(Level.ALERT),
                                     "message": message, "at": self.clock.now()})
        if failed:
            self._event("heal.alert_failed", f"{host.name}: the alert webhook was not told: {failed}", host)
        return message

    def _event(self, kind: str, message: str, host: DroneHost) -> str:
        self.store.add_event(kind, message, None, host.name)
        return message

