"""The fleet doctor (services.fleet) with fake ports: which drones it probes, when it heals, what it records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarm_celery.domain.fleet import DroneCheck, DroneHost
from swarm_celery.domain.healing import DroneHealth, HealingPolicy
from swarm_celery.errors import RemoteError
from swarm_celery.services.fleet import FleetConfig, FleetDoctor

PROBE = "load=1.0 1.0 1.0\nmem_total_kb=2048000\nmem_avail_kb=1024000\nbuild_free_kb=9999999\npkgdir_free_kb=9999999\nmanager=systemd\n"


class Store:
    def __init__(self, known: list[str]) -> None:
        self.known = known
        self.rows: list[DroneCheck] = []
        self.events: list[tuple[str, str, str]] = []
        self.state: dict[str, DroneHealth] = {}
        self.holds: dict[str, str] = {}

    def known_drones(self) -> list[str]:
        return self.known

    def record_check(self, check: DroneCheck) -> None:
        self.rows.append(check)

    def health(self, name: str) -> DroneHealth:
        return self.state.get(name, DroneHealth())

    def save_health(self, name: str, health: DroneHealth) -> None:
        self.state[name] = health

    def set_tree_hold(self, name: str, reason: str) -> bool:
        changed = self.holds.get(name, "") != reason
        self.holds[name] = reason
        return changed

    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None:
        self.events.append((kind, subject, message))


class Shell:
    def __init__(self, down: frozenset[str] = frozenset()) -> None:
        self.down = down
        self.ran: list[tuple[str, str]] = []

    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]:
        self.ran.append((host.name, command[:12]))
        if host.name in self.down:
            raise RemoteError(f"{host.name}: cannot connect")
        return 0, "systemd\n" if command.startswith("if command") else PROBE, ""


class Clock:
    def now(self) -> float:
        return 1000.0


class Pings:
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def answering(self, timeout: float, names: Sequence[str]) -> frozenset[str]:
        return self.names & frozenset(names)


def doctor(store: Store, shell: Shell, inventory: Mapping[str, DroneHost], pings: Pings | None) -> FleetDoctor:
    return FleetDoctor(store, shell, Clock(), inventory, pinger=pings, config=FleetConfig(healing=HealingPolicy(grace=0, cooldown=60)))


def test_every_inventory_host_and_every_known_drone_gets_a_row() -> None:
    store, shell = Store(["announced"]), Shell()
    inventory = {n: DroneHost(name=n, host=f"{n}.lan") for n in ("a", "b")}
    checks = doctor(store, shell, inventory, Pings(frozenset({"a", "b", "announced"}))).probe_round()
    assert [(c.name, c.answered, c.reachable) for c in checks] == [("a", True, True), ("announced", True, None), ("b", True, True)]
    assert checks[0].probe is not None and checks[0].probe.mem_avail_mb == 1000
    assert len(store.rows) == 3 and store.events == []


def test_without_a_ping_or_an_inventory_entry_nothing_is_healed() -> None:
    store, shell = Store(["ghost"]), Shell()
    inventory = {"a": DroneHost(name="a", host="a.lan")}
    doctor(store, shell, inventory, None).probe_round()  # no broker: not pinged
    doctor(store, shell, inventory, Pings(frozenset())).probe_round()  # ghost is silent but has no SSH entry
    assert [kind for kind, _, _ in store.events] == ["heal.restart"]
    assert [name for name, _ in shell.ran].count("ghost") == 0


def test_an_unreachable_host_is_one_event_until_it_changes() -> None:
    store, shell = Store([]), Shell(down=frozenset({"a"}))
    fleet = doctor(store, shell, {"a": DroneHost(name="a", host="a.lan")}, Pings(frozenset({"a"})))
    fleet.probe_round()
    fleet.probe_round()
    assert [kind for kind, _, _ in store.events] == ["fleet.unreachable"]
    shell.down = frozenset()
    fleet.probe_round()
    assert [kind for kind, _, _ in store.events] == ["fleet.unreachable", "fleet.reachable"]


class StaleShell(Shell):
    """A host whose tree is two days old and whose SSH drops the sync command."""

    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]:
        self.ran.append((host.name, command[:12]))
        if "nohup" in command:
            raise RemoteError(f"{host.name}: the command did not finish within 30 s")
        return 0, PROBE + "tree=Wed, 25 Nov 2026 06:00:00 +0000\n", ""


def test_a_sync_that_cannot_be_started_is_an_event_and_is_not_retried_every_round() -> None:
    store, shell = Store([]), StaleShell()
    fleet = FleetDoctor(store, shell, Clock(), {"a": DroneHost(name="a", host="a.lan")},
                        coordinator_tree=lambda: "Fri, 27 Nov 2026 06:00:00 +0000")
    [check] = fleet.probe_round()
    assert check.actions == ("a: could not start `emerge --sync`: a: the command did not finish within 30 s",)
    assert [kind for kind, _, _ in store.events] == ["drone.tree_sync_failed"] and store.holds["a"]
    assert store.state["a"].sync_asked_at == 1000.0
    fleet.probe_round()  # within sync_retry: the hold stays, nothing is run again
    assert [command for _, command in shell.ran].count("mkdir -p \"$(") == 1
