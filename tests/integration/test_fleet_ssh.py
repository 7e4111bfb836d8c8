"""Fleet probes and the self-healing ladder over real SSH (a private sshd on 127.0.0.1, tests.integration.sshd_kit).

The probe commands run for real on this machine; the service managers, reboot and emerge are fakes on the
sessions' PATH that record how they were called. Celery's ping is a stub here (the beat test uses the real one).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from swarm_celery.cli.main import cli
from swarm_celery.domain.fleet import ProbeLimits
from swarm_celery.domain.healing import HealingPolicy
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.errors import ConfigError
from swarm_celery.fleet.ssh import FabricShell
from swarm_celery.fleet.webhook import WebhookAlerter
from swarm_celery.services.fleet import FleetConfig, FleetDoctor
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.coordinator_kit import identity
from tests.integration.sshd_kit import Sshd, sshd  # noqa: F401

FRESH = "Fri, 27 Nov 2026 06:00:00 +0000"
OLD = "Wed, 25 Nov 2026 06:00:00 +0000"


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t


class Pings:
    def __init__(self, *names: str) -> None:
        self.names = frozenset(names)

    def answering(self, timeout: float, names: Sequence[str]) -> frozenset[str]:
        return self.names & frozenset(names)


class Fleet:
    def __init__(self, home: Path, kit: Sshd) -> None:
        self.url = f"sqlite:///{home / 'swarm.db'}"
        engine = make_engine(self.url)
        migrate(engine)
        self.clock, self.kit = Clock(), kit
        self.store, self.queries = SqlStore(engine, self.clock), Queries(engine)
        self.pings = Pings("d1")

    def doctor(self, alerter: WebhookAlerter | None = None, **host: Any) -> FleetDoctor:
        config = FleetConfig(limits=ProbeLimits(stuck_after=3600, min_free_mb=1, tree_slack=3600),
                             healing=HealingPolicy(grace=0, cooldown=100), command_timeout=20)
        return FleetDoctor(self.store, FabricShell(5), self.clock, {"d1": self.kit.host(**host)}, pinger=self.pings,
                           config=config, coordinator_tree=lambda: FRESH, alerter=alerter)

    def events(self, kind: str) -> list[str]:
        return [e.message for e in self.queries.events(None, 200, kind=kind)]


@pytest.fixture
def fleet(tmp_path: Path, sshd: Sshd) -> Fleet:  # noqa: F811
    (sshd.root / "tree" / "metadata").mkdir(parents=True)
    (sshd.root / "tree" / "metadata" / "timestamp.chk").write_text(FRESH + "\n")
    return Fleet(tmp_path, sshd)


def test_a_probe_is_a_row_shown_by_build_swarm_fleet(fleet: Fleet) -> None:
    [check] = fleet.doctor().probe_round()
    assert check.reachable and check.answered and check.error == "" and check.findings == ()
    result = CliRunner().invoke(cli, ["fleet", "--json"], env={"SWARM_DATABASE_URL": fleet.url})
    assert result.exit_code == 0, result.output
    [drone] = json.loads(result.output)
    health = drone["health"]
    assert drone["name"] == "d1" and drone["state"] == "unannounced"  # in the inventory, its worker never said hello
    assert health["reachable"] is True and health["answered"] is True and health["level"] == 0 and health["tree"] == FRESH
    assert len(health["load"]) == 3 and health["mem_total_mb"] > 0 and health["build_free_mb"] > 0 and health["pkgdir_free_mb"] > 0
    table = CliRunner().invoke(cli, ["fleet"], env={"SWARM_DATABASE_URL": fleet.url})
    assert table.exit_code == 0 and "unannounced" in table.output and "MiB" in table.output


def test_a_stale_tree_holds_the_drone_until_it_is_synced(fleet: Fleet) -> None:
    fleet.store.register_drone(identity("d1"))  # a drone that said hello
    (fleet.kit.root / "tree" / "metadata" / "timestamp.chk").write_text(OLD + "\n")
    [check] = fleet.doctor(sync="").probe_round()  # sync = "": a human syncs it
    assert [f.kind for f in check.findings] == ["tree.stale"] and check.actions == ()
    [event] = fleet.events("drone.tree_stale")
    assert "48.0 h older" in event and "run `emerge --sync` on d1" in event
    [load] = fleet.store.drone_loads("amd64")
    assert "emerge --sync" in SchedulerConfig().unavailable(load, fleet.clock.now())  # no work while stale
    fleet.doctor(sync="").probe_round()
    assert len(fleet.events("drone.tree_stale")) == 1  # one event, not one per round
    (fleet.kit.root / "tree" / "metadata" / "timestamp.chk").write_text(FRESH + "\n")
    fleet.doctor(sync="").probe_round()
    assert fleet.events("drone.tree_synced") and fleet.store.drone_loads("amd64")[0].held == ""
    assert fleet.kit.recorded() == [] and fleet.events("drone.tree_sync_started") == []


SYNCING_EMERGE = """#!/bin/sh
echo "emerge $*" >> {calls}
echo ">>> Syncing repository 'gentoo' into '{tree}'..."
sleep 0.5
{then}
"""


def wait_for_sync(kit: Sshd) -> str:
    log = kit.root / "log" / "sync.log"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if log.exists() and "build-swarm sync exit" in log.read_text():
            return log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the detached sync did not end: {log.read_text() if log.exists() else 'no log'}")


def test_a_drone_with_a_stale_tree_is_told_to_sync_and_takes_work_once_it_has(fleet: Fleet) -> None:
    fleet.store.register_drone(identity("d1"))  # a drone that said hello
    chk = fleet.kit.root / "tree" / "metadata" / "timestamp.chk"
    chk.write_text(OLD + "\n")
    fleet.kit.fake("emerge", SYNCING_EMERGE.format(calls=fleet.kit.calls, tree=fleet.kit.root / "tree",
                                                   then=f"echo '{FRESH}' > {chk}; echo '=== Sync completed for gentoo'"))
    [check] = fleet.doctor().probe_round()
    assert [f.kind for f in check.findings] == ["tree.stale"] and "it is told to run `emerge --sync`" in check.findings[0].message
    [told] = fleet.events("drone.tree_sync_started")
    assert told == (f"d1: its tree is stale: started `emerge --sync` there (output in {fleet.kit.root}/log/sync.log); "
                    "it takes work once a probe finds the tree current") and check.actions == (told,)
    assert fleet.store.drone_loads("amd64")[0].held  # no work until a probe sees the synced tree
    log = wait_for_sync(fleet.kit)  # it ran detached: the SSH session had ended long before
    assert "=== Sync completed for gentoo" in log and log.rstrip().endswith("build-swarm sync exit 0")
    [check] = fleet.doctor().probe_round()
    assert check.findings == () and check.probe is not None and check.probe.tree == FRESH
    assert fleet.events("drone.tree_synced") and fleet.store.drone_loads("amd64")[0].held == ""
    assert fleet.kit.recorded() == ["emerge --sync"] and fleet.store.health("d1").sync_asked_at == 0.0
    result = CliRunner().invoke(cli, ["fleet", "--json"], env={"SWARM_DATABASE_URL": fleet.url})
    assert json.loads(result.output)[0]["health"]["sync"] == "exit 0"


def test_a_failed_sync_is_reported_and_asked_again_only_after_the_retry_time(fleet: Fleet) -> None:
    (fleet.kit.root / "tree" / "metadata" / "timestamp.chk").write_text(OLD + "\n")
    fleet.kit.fake("emerge", SYNCING_EMERGE.format(calls=fleet.kit.calls, tree=fleet.kit.root / "tree",
                                                   then="echo '!!! rsync error: connection refused' >&2; exit 1"))
    fleet.doctor().probe_round()
    wait_for_sync(fleet.kit)
    [check] = fleet.doctor().probe_round()  # within sync_retry: not asked again
    assert [f.kind for f in check.findings] == ["tree.stale", "tree.sync_failed"] and check.actions == ()
    [failed] = fleet.events("drone.tree_sync_failed")
    assert failed == (f"d1: `emerge --sync` exited 1: !!! rsync error: connection refused (log: {fleet.kit.root}/log/sync.log); "
                      "fix it there, or sync the tree by hand")
    assert fleet.kit.recorded() == ["emerge --sync"]
    fleet.clock.t += FleetConfig().sync_retry
    [check] = fleet.doctor().probe_round()
    assert len(check.actions) == 1 and fleet.kit.recorded() == ["emerge --sync"] * 2 and len(fleet.events("drone.tree_sync_started")) == 2
    wait_for_sync(fleet.kit)


def test_an_emerge_older_than_the_longest_build_is_stuck(fleet: Fleet) -> None:
    emerge = fleet.kit.fake("emerge", "#!/bin/sh\nsleep 600\n")
    process = subprocess.Popen([str(emerge), "--oneshot", "=sys-devel/gcc-14.2.0"])
    try:
        time.sleep(2.2)
        doctor = fleet.doctor()
        doctor.config = FleetConfig(limits=ProbeLimits(stuck_after=1, min_free_mb=1), healing=doctor.config.healing)
        [check] = doctor.probe_round()
    finally:
        process.kill()
        process.wait()
    assert check.probe is not None and process.pid in [e.pid for e in check.probe.emerges]
    [event] = fleet.events("drone.emerge_stuck")
    assert f" {process.pid} (" in event or f"pid {process.pid} (" in event  # other emerges on this host may be listed too
    assert fleet.queries.fleet()[0].health.stuck  # type: ignore[union-attr] == 1


def _group_of_two(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A worker stand-in: a process group (a shell and its child), the leader's pid in the pid file."""
    leader = subprocess.Popen(["setsid", "sh", "-c", f"sleep 600 & echo $! > {tmp / 'child.pid'}; wait"])
    for _ in range(100):
        if (tmp / "child.pid").exists() and (tmp / "child.pid").read_text().strip():
            break
        time.sleep(0.05)
    (tmp / "worker.pid").write_text(f"{leader.pid}\n")
    return leader, int((tmp / "child.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    posted: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", posted
    finally:
        server.shutdown()


def test_the_ladder_on_openrc_bare_metal(fleet: Fleet, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    fleet.kit.fake("rc-service")
    fleet.pings = Pings()  # d1 stops answering
    doctor = fleet.doctor(alerter=WebhookAlerter(webhook[0]))
    assert doctor.probe_round()[0].level == 1
    assert fleet.kit.recorded() == ["rc-service build-swarm-drone restart"]
    assert "ran `rc-service build-swarm-drone restart`" in fleet.events("heal.restart")[0]
    doctor.probe_round()
    assert len(fleet.kit.recorded()) == 1  # the cooldown: nothing more yet

    fleet.clock.t += 100
    leader, child = _group_of_two(fleet.kit.root)
    assert doctor.probe_round()[0].level == 2
    leader.wait(timeout=10)
    assert not _alive(child), "the whole process group is killed"
    assert fleet.kit.recorded()[1:] == ["rc-service build-swarm-drone zap", "rc-service build-swarm-drone start"]
    assert fleet.events("heal.hard_restart")

    fleet.clock.t += 100
    doctor.probe_round()
    assert "not rebooted: it is bare-metal" in fleet.events("heal.reboot_refused")[0]
    assert not any(c.startswith("reboot") for c in fleet.kit.recorded())

    fleet.clock.t += 100
    assert doctor.probe_round()[0].level == 4
    assert fleet.events("heal.alert") and webhook[1][0]["drone"] == "d1" and webhook[1][0]["level"] == 4
    fleet.clock.t += 1000
    doctor.probe_round()
    assert len(webhook[1]) == 1 and len(fleet.kit.recorded()) == 3  # alerted once; a human takes over

    fleet.pings = Pings("d1")
    doctor.pinger = fleet.pings
    assert doctor.probe_round()[0].level == 0
    assert "starts over" in fleet.events("heal.recovered")[0]
    fleet.pings = doctor.pinger = Pings()
    doctor.probe_round()
    assert fleet.kit.recorded()[-1] == "rc-service build-swarm-drone restart"  # from the bottom again


def test_the_ladder_on_a_systemd_lxc_guest_reboots_it(fleet: Fleet) -> None:
    fleet.kit.fake("systemctl")
    fleet.pings = Pings()
    doctor = fleet.doctor(type="lxc")
    for _ in range(3):
        doctor.probe_round()
        fleet.clock.t += 100
    assert fleet.kit.recorded() == ["systemctl restart build-swarm-drone", "systemctl restart build-swarm-drone", "reboot"]
    assert fleet.events("heal.reboot") and not fleet.events("heal.reboot_refused")


def test_unreachable_hosts_and_refused_keys_are_events_not_crashes(fleet: Fleet, tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    (tmp_path / "empty_known_hosts").write_text("")
    cases = {
        "refused the key": {"key_file": str(tmp_path / "stranger")},
        "key_file /nonexistent does not exist": {"key_file": "/nonexistent"},
        "is not in": {"known_hosts": str(tmp_path / "empty_known_hosts")},
        "cannot connect": {"port": 1},
    }
    fleet.pings = Pings()
    for expected, host in cases.items():
        [check] = fleet.doctor(**host).probe_round()
        assert check.reachable is False and expected in check.error, check.error
        assert expected in fleet.events("fleet.unreachable")[-1]
    assert "ssh-keyscan -p" in fleet.events("fleet.unreachable")[2]
    assert "restart of d1 failed" in fleet.events("heal.failed")[0]  # the ladder's step failed too, and said so


def test_build_swarm_fleet_probe_runs_one_round_now(fleet: Fleet, tmp_path: Path) -> None:
    kit = fleet.kit
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(f'[drones.d1]\nhost = "127.0.0.1"\nport = {kit.port}\nkey_file = "{kit.key}"\n'
                         f'known_hosts = "{kit.known_hosts}"\ntree = "{kit.root / "tree"}"\n')
    env = {"SWARM_DATABASE_URL": fleet.url, "SWARM_FLEET_FILE": str(inventory), "SWARM_BROKER_URL": ""}
    result = CliRunner().invoke(cli, ["fleet", "probe", "--json"], env=env)
    assert result.exit_code == 0, result.output
    [check] = json.loads(result.stdout)
    assert check["drone"] == "d1" and check["reachable"] is True and check["answered"] is None and check["level"] == 0
    human = CliRunner().invoke(cli, ["fleet", "probe"], env=env)
    assert human.exit_code == 0 and "d1: not pinged, SSH ok" in human.output
    assert len(fleet.queries.probes("d1")) == 2

    inventory.write_text('[drones.d1]\nhost = "127.0.0.1"\ntype = "vm"\n')
    bad = CliRunner().invoke(cli, ["fleet", "probe"], env=env)
    assert isinstance(bad.exception, ConfigError)  # main() prints it as one line and exits 2
    assert str(bad.exception) == f"{inventory}: drone 'd1': type = 'vm' is not one of bare-metal, lxc, qemu"
