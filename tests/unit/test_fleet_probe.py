"""Fleet probe judgement and the inventory (domain.fleet): parsing, stale tree, stuck emerge, low disk, errors."""

from __future__ import annotations

import pytest

from swarm_celery.domain.fleet import (
    DroneHost,
    ProbeLimits,
    SyncRun,
    hard_restart_command,
    judge,
    parse_hosts,
    parse_inventory,
    parse_probe,
    probe_command,
    service_command,
    sync_command,
    sync_due,
    sync_run,
    tree_seconds,
)

OUTPUT = """load=0.52 0.40 0.33
mem_total_kb=16384000
mem_avail_kb=8192000
build_free_kb=10485760
pkgdir_free_kb=1048576
tree=Fri, 27 Nov 2026 00:45:01 +0000
manager=openrc
proc=1 500000 /sbin/init
proc=4242 40000 /usr/bin/python3.12 /usr/lib/python-exec/python3.12/emerge --oneshot =sys-devel/gcc-14.2.0
proc=4300 20 emerge --info
proc=4301 99999 vim /etc/portage/emerge.conf
"""
COORDINATOR_TREE = "Fri, 27 Nov 2026 06:00:00 +0000"
D1 = DroneHost(name="d1", host="h")
MANUAL = DroneHost(name="d1", host="h", sync="")  # an admin syncs it by hand


def test_the_probe_output_is_read() -> None:
    probe = parse_probe(OUTPUT)
    assert probe.load == (0.52, 0.40, 0.33)
    assert (probe.mem_total_mb, probe.mem_avail_mb, probe.build_free_mb, probe.pkgdir_free_mb) == (16000, 8000, 10240, 1024)
    assert probe.manager == "openrc" and probe.tree.startswith("Fri, 27 Nov 2026")
    assert [(e.pid, e.seconds) for e in probe.emerges] == [(4242, 40000.0), (4300, 20.0)]  # not vim on emerge.conf


def test_garbled_output_gives_unknowns_not_errors() -> None:
    probe = parse_probe("load=?\nmem_total_kb=\nmanager=upstart\nproc=x y z\nnonsense\n")
    assert probe.load is None and probe.mem_total_mb is None and probe.manager == "none" and probe.emerges == ()


def test_findings_stale_tree_stuck_emerge_low_disk() -> None:
    found = judge(MANUAL, parse_probe(OUTPUT), COORDINATOR_TREE, ProbeLimits(stuck_after=36000, min_free_mb=2048, tree_slack=3600))
    assert [f.kind for f in found] == ["tree.stale", "emerge.stuck", "disk.low"]
    assert "run `emerge --sync` on d1" in found[0].message and "5.2 h older" in found[0].message
    assert "pid 4242" in found[1].message and "4300" not in found[1].message
    assert "1024 MiB free on its PKGDIR" in found[2].message


def test_a_tree_within_the_slack_or_no_coordinator_tree_is_not_stale() -> None:
    limits = ProbeLimits(tree_slack=6 * 3600, stuck_after=10**6, min_free_mb=0)
    assert judge(D1, parse_probe(OUTPUT), COORDINATOR_TREE, limits) == ()
    assert judge(D1, parse_probe(OUTPUT), "", ProbeLimits(stuck_after=10**6, min_free_mb=0)) == ()


def test_a_drone_without_a_timestamp_is_stale_when_the_coordinator_has_one() -> None:
    found = judge(D1, parse_probe("tree=\n"), COORDINATOR_TREE, ProbeLimits())
    assert found[0].kind == "tree.stale" and "no readable metadata/timestamp.chk" in found[0].message


def test_a_stale_tree_says_the_drone_is_told_to_sync_and_a_failed_sync_is_a_finding() -> None:
    [stale] = judge(D1, parse_probe(OUTPUT), COORDINATOR_TREE, ProbeLimits(stuck_after=10**6, min_free_mb=0))
    assert "it is told to run `emerge --sync` (it gets no work until its tree is synced)" in stale.message
    failed = OUTPUT + "sync=build-swarm sync started 1795000000\nsync=!!! rsync error: connection refused\nsync=build-swarm sync exit 1\n"
    found = judge(D1, parse_probe(failed), COORDINATOR_TREE, ProbeLimits(stuck_after=10**6, min_free_mb=0))
    assert [f.kind for f in found] == ["tree.stale", "tree.sync_failed"]
    assert found[1].message == ("d1: `emerge --sync` exited 1: !!! rsync error: connection refused "
                                "(log: /var/log/build-swarm-sync.log); fix it there, or sync the tree by hand")
    fresh = failed.replace("tree=Fri, 27 Nov 2026 00:45:01", "tree=Fri, 27 Nov 2026 06:00:00")
    assert judge(D1, parse_probe(fresh), COORDINATOR_TREE, ProbeLimits(stuck_after=10**6, min_free_mb=0)) == ()  # synced by hand


def test_the_sync_log_tail_says_running_or_how_it_ended() -> None:
    assert sync_run(()) is None
    running = sync_run(("build-swarm sync started 1795000000", ">>> Syncing repository 'gentoo'"))
    assert running is not None and running.running and running.exit is None and running.last == ">>> Syncing repository 'gentoo'"
    done = sync_run(("a", "b", "=== Sync completed for gentoo", "build-swarm sync exit 0"))
    assert done is not None and not done.running and done.exit == 0 and done.last == "=== Sync completed for gentoo"
    quiet = sync_run(("build-swarm sync started 1", "build-swarm sync exit 127"))
    assert quiet is not None and quiet.exit == 127 and quiet.last == ""
    assert parse_probe("sync=1\nsync=2\nsync=3\nsync=4\nsync=5\n").sync == SyncRun(True, None, "5")  # the last 4 lines
    assert parse_probe("sync=build-swarm sync started 1\nsync=build-swarm sync exit 1\n").sync == SyncRun(False, 1, "")


def test_when_a_drone_is_told_to_sync_again() -> None:
    running = sync_run(("build-swarm sync started 1",))
    ended = sync_run(("build-swarm sync exit 0",))
    assert sync_due(0.0, 1000.0, 3600, None)  # never asked
    assert not sync_due(1000.0, 1000.0 + 3599, 3600, ended) and sync_due(1000.0, 1000.0 + 3600, 3600, ended)
    assert not sync_due(1000.0, 1000.0 + 3600, 3600, running)  # still syncing: left alone ...
    assert sync_due(1000.0, 1000.0 + 4 * 3600, 3600, running)  # ... unless it never ended (killed with its host)


def test_the_sync_runs_detached_with_its_log_quoted() -> None:
    host = DroneHost(name="d1", host="h", sync="emaint sync -r gentoo", sync_log="/var/log/swarm sync.log")
    command = sync_command(host)
    assert command.startswith("mkdir -p \"$(dirname '/var/log/swarm sync.log')\" && nohup sh -c ")
    assert command.endswith("> '/var/log/swarm sync.log' 2>&1 < /dev/null &")
    assert "emaint sync -r gentoo; echo \"build-swarm sync exit $?\"" in command
    assert "tail -n 4 '/var/log/swarm sync.log'" in probe_command(host)


def test_tree_seconds() -> None:
    assert tree_seconds("Thu, 01 Jan 1970 00:01:00 +0000") == 60.0
    assert tree_seconds("") is None and tree_seconds("yesterday") is None


def test_commands_quote_paths_and_pick_the_service_manager() -> None:
    host = DroneHost(name="d1", host="h", build_dir="/var/tmp/my portage", service="swarm drone")
    assert "df -Pk '/var/tmp/my portage'" in probe_command(host)
    assert service_command("openrc", "build-swarm-drone", "restart") == "rc-service build-swarm-drone restart"
    assert service_command("systemd", "build-swarm-drone", "restart") == "systemctl restart build-swarm-drone"
    hard = hard_restart_command(host, "openrc")
    assert 'kill -KILL -- "-$pgid"' in hard and '"$pgid" -gt 1' in hard
    assert hard.endswith("rc-service 'swarm drone' zap; rc-service 'swarm drone' start")
    assert hard_restart_command(DroneHost(name="d", host="h", start="/etc/init.d/x start"), "systemd").endswith("/etc/init.d/x start")


INVENTORY = """
[defaults]
user = "swarm"
key_file = "/etc/build-swarm/fleet_key"

[drones.alpha]
host = "10.0.0.5"
type = "lxc"

[drones.beta]
host = "beta.lan"
port = 2222
user = "root"
"""


def test_the_inventory_is_read_with_defaults() -> None:
    hosts = parse_inventory(INVENTORY, "fleet.toml")
    assert hosts["alpha"] == DroneHost(name="alpha", host="10.0.0.5", user="swarm", key_file="/etc/build-swarm/fleet_key", type="lxc")
    assert (hosts["beta"].port, hosts["beta"].user, hosts["beta"].type) == (2222, "root", "bare-metal")
    assert hosts["alpha"].rebootable and not hosts["beta"].rebootable


def test_machines_are_hosts_but_not_drones() -> None:
    drones, machines = parse_hosts(INVENTORY + '[machines.laptop]\nhost = "10.0.0.20"\n', "fleet.toml")
    assert sorted(drones) == ["alpha", "beta"] and sorted(machines) == ["laptop"]
    assert machines["laptop"] == DroneHost(name="laptop", host="10.0.0.20", user="swarm", key_file="/etc/build-swarm/fleet_key")
    assert parse_inventory(INVENTORY + '[machines.laptop]\nhost = "10.0.0.20"\n', "fleet.toml") == drones
    assert parse_hosts('[machines.laptop]\nhost = "l"\n', "fleet.toml") == ({}, {"laptop": DroneHost(name="laptop", host="l")})


@pytest.mark.parametrize(("text", "message"), [
    ("[drones.a]\nhost = 'x'\n[machines.a]\nhost = 'y'\n", "fleet.toml: 'a' is both a drone and a machine: a drone is a "
                                                           "machine too, keep only [drones.a]"),
    ("[machines.m]\nhots = 'x'\n", "fleet.toml: machine 'm': unknown key 'hots'"),
    ("[machines]\nm = 'x'\n", "fleet.toml: machine 'm': expected a table [machines.m] with host ="),
    ("[drones.a]\nhost = 'x'\ntype = 'vm'\n", "fleet.toml: drone 'a': type = 'vm' is not one of bare-metal, lxc, qemu"),
    ("[drones.a]\nhots = 'x'\n", "fleet.toml: drone 'a': unknown key 'hots' (known: host, port"),
    ("[drones.a]\nport = 22\n", "fleet.toml: drone 'a': no host: add host ="),
    ("[drones.a]\nhost = 'x'\nport = '22'\n", "fleet.toml: drone 'a': port = '22' should be a number"),
    ("[drones.a]\nhost = 'x'\nport = 70000\n", "port = 70000 is not a TCP port"),
    ("[drones.a]\nhost = 'x'\ntree = 'repos/gentoo'\n", "tree = 'repos/gentoo' should be an absolute path"),
    ("[drones.a]\nhost = 'x'\nsync_log = 'sync.log'\n", "sync_log = 'sync.log' should be an absolute path"),
    ("[drones.a]\nhost = 'x'\naccept_unknown_host = 'yes'\n", "accept_unknown_host = 'yes' should be true or false"),
    ("[drones.a]\nhost = 'x'\n[drone.b]\nhost = 'y'\n", "fleet.toml: unknown table 'drone'"),
    ("[defaults]\nusr = 'root'\n[drones.a]\nhost = 'x'\n", "fleet.toml: [defaults]: unknown key 'usr'"),
    ("# nothing yet\n", "fleet.toml: no drones: add a [drones.NAME] table"),
    ("[drones.a]\nhost = 'x\n", "fleet.toml: not valid TOML: "),
    ("[drones]\na = 'x'\n", "drone 'a': expected a table [drones.a]"),
])
def test_a_bad_inventory_says_where_and_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_inventory(text, "fleet.toml")
    assert message in str(caught.value)


def test_defaults_alone_are_an_empty_fleet_that_provisioning_fills() -> None:
    assert parse_inventory("[defaults]\nuser = 'root'\n", "fleet.toml") == {}


def test_toml_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match=r"line 3"):
        parse_inventory("[drones.a]\nhost = 'x'\nport = = 3\n", "fleet.toml")
