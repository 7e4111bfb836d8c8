"""Provisioning, deploys and audits, the pure parts: the host's state read back, drone.conf as settings.read_conf reads
it, fleet.toml tables, the payload digest, the bootstrap script's shell, and beat's drift watch on the memory store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swarm_celery.domain.audit import Check, Status, facts_command, parse_spec
from swarm_celery.domain.bootstrap_script import END, bootstrap_script
from swarm_celery.domain.fleet import DroneHost, parse_hosts
from swarm_celery.domain.payload import Payload, Wheel, payload_digest, wheel_version
from swarm_celery.domain.provision import (
    drone_conf_text,
    install_command,
    inventory_table,
    parse_conf,
    parse_state,
    prune_command,
    restore_by_hand_command,
    service_plan,
    state_command,
    switch_command,
    with_table,
)
from swarm_celery.services.audit import DriftWatch, FleetAuditor
from swarm_celery.settings import read_conf
from swarm_celery.store.memory import MemoryStore
from tests.coordinator_kit import FakeClock, identity

DIGEST = "ab" * 32
PAYLOAD = Payload("0.1.0", DIGEST, "swarm_celery-0.1.0-py3-none-any.whl", (Wheel("swarm_celery-0.1.0-py3-none-any.whl", "cd" * 32),))


def test_the_host_state_is_read_back_and_a_cut_off_answer_is_not_whole() -> None:
    answer = ("@@ manager\nopenrc\n@@ python\n3 11\n@@ release\nreleases/0.1.0-abababababab\n@@ wheels\n"
              f"{'cd' * 32}  swarm_celery-0.1.0-py3-none-any.whl\nnot a sum line\n@@ conf\n# x\nSWARM_ARCH='amd64'\n"
              f"SWARM_DRONE_TOKEN=bsd_1\n@@ units\n{'ef' * 32}  /etc/init.d/build-swarm-drone\n@@ end\n")
    state = parse_state(answer)
    assert (state.manager, state.python, state.release_name, state.complete) == ("openrc", (3, 11), "0.1.0-abababababab", True)
    assert state.wheels == {"swarm_celery-0.1.0-py3-none-any.whl": "cd" * 32}
    assert state.conf == {"SWARM_ARCH": "amd64", "SWARM_DRONE_TOKEN": "bsd_1"}
    assert state.units == {"/etc/init.d/build-swarm-drone": "ef" * 32}
    assert not parse_state(answer.replace("@@ end\n", "")).complete
    assert parse_state("garbage\n\x1b[2J").manager == "none"


def test_the_commands_are_valid_sh() -> None:
    for command in (state_command(("/etc/init.d/build-swarm-drone", "/etc/systemd/system/build-swarm-drone@.service")),
                    switch_command("0.1.0-abababababab"), restore_by_hand_command(), prune_command(("a", "b")), prune_command(())):
        assert subprocess.run(["sh", "-n", "-c", command], check=False).returncode == 0, command


def test_drone_conf_is_what_read_conf_reads_and_parse_conf_reads_it_back(tmp_path: Path) -> None:
    values = {"SWARM_BROKER_URL": "redis://:p@ss w'rd@10.0.0.2:6379/0", "SWARM_DRONE_NAME": "box1", "SWARM_DRONE_TOKEN": "bsd_x"}
    path = tmp_path / "drone.conf"
    path.write_text(drone_conf_text(values))
    assert read_conf(path) == values == parse_conf(path.read_text())


def test_a_complete_wheelhouse_installs_without_an_index() -> None:
    assert "--no-index" in install_command(Payload(PAYLOAD.version, DIGEST, PAYLOAD.wheel, PAYLOAD.wheels, complete=True))
    assert "--no-index" not in install_command(PAYLOAD) and PAYLOAD.release == "0.1.0-abababababab"
    assert subprocess.run(["sh", "-n", "-c", install_command(PAYLOAD)], check=False).returncode == 0


def test_fleet_toml_tables_are_replaced_in_place_and_appended_otherwise() -> None:
    text = '# my fleet\n[defaults]\nuser = "root"\n\n[drones.a]\nhost = "old"\n\n# b is the NAS\n[drones.b]\nhost = "nas"\n'
    replaced = with_table(text, "a", inventory_table("a", {"host": "10.0.0.11", "port": 2222}))
    assert replaced == '# my fleet\n[defaults]\nuser = "root"\n\n[drones.a]\nhost = "10.0.0.11"\nport = 2222\n\n# b is the NAS\n[drones.b]\nhost = "nas"\n'
    added = with_table(replaced, "c", inventory_table("c", {"host": "c.lan", "sync": 'emerge --sync "gentoo"'}))
    drones, _ = parse_hosts(added, "fleet.toml")
    assert (drones["a"].port, drones["b"].host, drones["c"].sync) == (2222, "nas", 'emerge --sync "gentoo"')
    assert with_table(added, "c", inventory_table("c", {"host": "c.lan", "sync": 'emerge --sync "gentoo"'})) == added  # nothing changes


def test_the_service_plan_names_the_instance_on_systemd_and_refuses_no_manager() -> None:
    assert service_plan("systemd", "box1").service == "build-swarm-drone@box1"
    assert service_plan("openrc", "box1").restart == "rc-service build-swarm-drone restart"
    with pytest.raises(ValueError, match="neither OpenRC"):
        service_plan("none", "box1")


def test_the_payload_digest_leaves_compiled_files_and_other_packages_out() -> None:
    files = [("swarm_celery/__init__.py", b"x"), ("swarm_celery/a.py", b"y")]
    digest = payload_digest(files)
    assert digest == payload_digest(reversed(files))
    assert digest == payload_digest([*files, ("swarm_celery/__pycache__/a.cpython-311.pyc", b"z"), ("other/b.py", b"w"),
                                     ("swarm_celery-0.1.0.dist-info/RECORD", b"r")])
    assert digest != payload_digest([("swarm_celery/__init__.py", b"x"), ("swarm_celery/a.py", b"Y")])
    assert (wheel_version("swarm_celery-0.1.1-py3-none-any.whl"), wheel_version("redis-8.1.0-py3-none-any.whl")) == ("0.1.1", None)


def test_the_bootstrap_script_is_valid_sh_and_carries_everything() -> None:
    units = {source: b"#!/bin/sh\n# a unit\n" for manager in ("openrc", "systemd") for source, _, _ in service_plan(manager, "b").files}
    script = bootstrap_script("box9", PAYLOAD, b"PK\x03\x04wheel", drone_conf_text({"SWARM_DRONE_TOKEN": "bsd_t"}), units)
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    assert "cd" * 32 in script and "SWARM_DRONE_TOKEN=bsd_t" in script and "build-swarm-drone@box9" in script
    with pytest.raises(ValueError, match=END):
        bootstrap_script("box9", PAYLOAD, b"w", f"x\n{END}\n", units)


class Shell:
    """Answers the facts command with ``facts[host]`` (a RemoteError when None)."""

    def __init__(self, facts: dict[str, str | None]) -> None:
        self.facts = facts

    def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]:
        from swarm_celery.errors import RemoteError

        answer = self.facts[host.name]
        if answer is None:
            raise RemoteError(f"{host.name}: cannot connect")
        return 0, answer, ""


SPEC = parse_spec('format = 1\n[system]\nprofile = "default/linux/amd64/23.0"\narch = "amd64"\n', "spec.toml")


def facts(profile: str) -> str:
    return (f"@@ build-swarm-facts 1\n@@ now\n1000\n@@ machine\nx86_64\n@@ profile\n../../var/db/repos/gentoo/profiles/{profile}\n"
            "@@ tree\nThu, 01 Jan 1970 00:10:00 +0000\n@@ version\n0.1.0\n@@ features\n@@ commands\n@@ paths\n@@ manager\nopenrc\n"
            "@@ enabled\n@@ running\n@@ world\n@@ installed\n@@ end\n")


@pytest.mark.parametrize("hold", [True, False])
def test_drift_is_an_event_and_holds_by_setting_but_an_unreadable_or_paused_host_is_not_held(hold: bool) -> None:
    store = MemoryStore(FakeClock())
    for name in ("ok", "drifted", "gone", "paused"):
        store.register_drone(identity(name))
    store.set_drone_paused("paused", True)
    hosts = {n: DroneHost(name=n, host=f"{n}.lan") for n in ("ok", "drifted", "gone", "paused")}
    shell = Shell({"ok": facts("default/linux/amd64/23.0"), "drifted": facts("default/linux/amd64/23.0/desktop"), "gone": None,
                   "paused": facts("default/linux/amd64/23.0/desktop")})
    audits = DriftWatch(FleetAuditor(shell, hosts, SPEC), store, hold=hold).round()
    assert {a.drone: a.code for a in audits} == {"ok": 1, "drifted": 2, "gone": 2, "paused": 2}  # ok: FEATURES unread, a WARN
    assert [e.subject for e in store.t.events if e.kind == "drone.drift"] == ["drifted"]
    assert [e.subject for e in store.t.events if e.kind == "drone.audit_failed"] == ["gone"]
    assert [e.subject for e in store.t.events if e.kind == "drone.held"] == (["drifted"] if hold else [])
    paused = {load.name for load in store.drone_loads("amd64") if load.paused}
    assert paused == ({"drifted", "paused"} if hold else {"paused"})
    assert Check("ssh", Status.FAIL, "gone: cannot connect") in next(a for a in audits if a.drone == "gone").checks
    assert "build-swarm-facts" in facts_command(SPEC)
