"""Fleet operations on real hosts: three network namespaces, each with its own address, root directory, sshd and OpenRC,
and a real coordinator (`build-swarm coordinator`: worker, API, beat) with a password-protected Redis on the bridge.

From nothing: `drone provision` each host (then once more: nothing changes), the synthetic world built through them,
a rolling `drone deploy` of a wheel with a bumped version while a second session builds (nothing lost, no build
counted twice, versions mixed in `build-swarm fleet` halfway), a deploy that fails rolled back, then a drift on one host:
`drone audit` fails it, and beat's audit records the drift and holds the drone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT
from tests.integration.demo_kit import Run, cli_env, run_cli
from tests.integration.deploy_kit import free_port, need, wait_for
from tests.integration.hosts_kit import PROFILE, Hosts, hosts, spec_for_hosts, wheelhouse

pytestmark = pytest.mark.slow
PASSWORD = "fleet-broker-s3cret"
TIME_SCALE = "0.025"  # simulated builds: a real build's time x this (a session takes about a minute on three drones: long
# enough that a deploy's push and install, which come before its pause, end while the session still builds)


@dataclass
class Coordinator:
    env: dict[str, str]
    hosts: Hosts
    home: Path

    def cli(self, *args: str, timeout: float = 600) -> Run:
        return run_cli(list(args), self.env, timeout=timeout)

    def fleet(self) -> dict[str, dict[str, object]]:
        run = self.cli("fleet", "--json")
        assert run.code == 0, run.stderr
        return {d["name"]: d for d in run.json()}

    def events(self, kind: str) -> list[str]:
        run = self.cli("events", "--kind", kind, "--json")
        return [e["message"] for e in run.json()] if run.code == 0 else []

    def session(self, *extra: str) -> str:
        run = self.cli("queue", "add", "--json", *extra)
        assert run.code == 0, run.stderr
        return str(run.json()["session"])

    def until_complete(self, session: str, what: str, timeout: float = 300) -> None:
        try:
            wait_for(lambda: self.status(session)["state"] == "complete", timeout, what)
        except AssertionError as exc:
            events = [(e["kind"], e["subject"], (e["message"] or "")[:300]) for e in self.cli("events", "--json", "--limit", "40").json()]
            raise AssertionError(f"{exc}: {self.status(session)['counts']}; {events}") from None

    def status(self, session: str) -> dict[str, object]:
        run = self.cli("status", "--session", session, "--json")
        assert run.code == 0, run.stderr
        return dict(run.json())


def _redis(bind: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([need("redis-server", "redis-server"), "--port", str(port), "--bind", f"127.0.0.1 {bind}", "--save", "",
                               "--appendonly", "no", "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    wait_for(lambda: _pings(port), 10, "redis-server")
    return server


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, password=PASSWORD).ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def coordinator(tmp_path: Path, portage_cache: Path) -> Iterator[Coordinator]:
    with hosts(tmp_path / "hosts", ["h1", "h2", "h3", "h4"]) as fleet:
        broker, api = free_port(), free_port()
        server = _redis(fleet.gateway, broker)
        wheels = tmp_path / "wheelhouse"
        wheels.mkdir()
        for wheel in wheelhouse().glob("*.whl"):
            os.link(wheel, wheels / wheel.name)
        env = cli_env(tmp_path / "coordinator", portage_cache, SWARM_BROKER_URL=f"redis://:{PASSWORD}@127.0.0.1:{broker}/0",
                      SWARM_DRONE_BROKER_URL=f"redis://:{PASSWORD}@{fleet.gateway}:{broker}/0", SWARM_API_HOST=fleet.gateway,
                      SWARM_API_PORT=str(api), SWARM_COORDINATOR_URL=f"http://{fleet.gateway}:{api}", SWARM_WHEELHOUSE=str(wheels),
                      SWARM_FLEET_FILE=str(fleet.inventory(tmp_path / "fleet.toml")), SWARM_DRONE_SPEC=str(spec_for_hosts(tmp_path / "spec.toml")),
                      SWARM_AUDIT_EVERY="10", SWARM_AUDIT_HOLD="1", SWARM_RECLAIM_EVERY="5", SWARM_API_TOKEN="admin-token")
        log = (tmp_path / "coordinator.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "swarm_celery", "coordinator"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            wait_for(lambda: run_cli(["drone", "--check", "--json"], env | {"SWARM_DRONE_TOKEN": "x"}).stdout.find('"coordinator"') > 0
                     and "cannot reach" not in run_cli(["drone", "--check"], env).stdout, 60, "the coordinator's API")
            yield Coordinator(env, fleet, tmp_path)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
            server.terminate()
            server.wait(timeout=10)


def _provision(coordinator: Coordinator, name: str, address: str) -> dict[str, object]:
    run = coordinator.cli("drone", "provision", address, "--name", name, "--type", "lxc", "--builder", "simulate",
                          "--set", f"SWARM_TIME_SCALE={TIME_SCALE}", "--set", "SWARM_HEARTBEAT=2", "--json")
    assert run.code == 0, run.stdout + run.stderr + _logs(coordinator, name)
    return dict(run.json())


def _logs(coordinator: Coordinator, name: str) -> str:
    """What the drone's service logged on its host (for a failure's message)."""
    host = next(h for h in coordinator.hosts.hosts if h.name == name)
    return coordinator.hosts.ssh(host, "rc-service build-swarm-drone status; tail -n 25 /var/log/build-swarm/*.log").stdout


def _bumped_wheel(tmp_path: Path, version: str, broken: bool = False) -> Path:
    """This checkout as build-swarm ``version``, one file changed (so its digest differs); ``broken``: a drone that cannot start."""
    source = tmp_path / f"src-{version}"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".cache", ".git", "tests", "*.egg-info", "build", "__pycache__"))
    pyproject = source / "pyproject.toml"
    pyproject.write_text(re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1, flags=re.M))
    init = source / "swarm_celery" / "__init__.py"
    init.write_text(init.read_text() + f"\n# build {version}\n" + ("raise SystemExit('this build is broken')\n" if broken else ""))
    out = tmp_path / f"dist-{version}"
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)], capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    return next(out.glob("*.whl"))


def test_provision_build_deploy_and_audit_a_fleet_of_real_hosts(coordinator: Coordinator, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    fleet = coordinator.hosts
    provisioned = fleet.hosts[:3]  # h4 is for `bootstrap-script`, by hand
    with ThreadPoolExecutor(max_workers=3) as pool:  # three admins' shells at once
        first = dict(zip([h.name for h in provisioned], pool.map(lambda h: _provision(coordinator, h.name, h.address), provisioned),
                         strict=True))
    timings["provision 3 hosts"] = time.monotonic() - started
    _provisioned_as_promised(coordinator, first)
    again = _provision(coordinator, "h1", fleet.hosts[0].address)
    assert again["changed"] == [], again

    mark = time.monotonic()
    session = coordinator.session()
    coordinator.until_complete(session, "the first session")
    timings["first session"] = time.monotonic() - mark
    print(timings, flush=True)
    builders = Counter(a["drone"] for a in coordinator.cli("history", "--session", session, "--json").json())
    assert set(builders) <= {"h1", "h2", "h3"} and len(builders) >= 2, builders

    mark = time.monotonic()
    _rolling_deploy_while_building(coordinator, tmp_path)
    timings["rolling deploy"] = time.monotonic() - mark
    print(timings, flush=True)
    _a_failed_deploy_rolls_back(coordinator, tmp_path)
    mark = time.monotonic()
    _drift_fails_the_audit_and_holds_the_drone(coordinator)
    timings["drift"] = time.monotonic() - mark
    mark = time.monotonic()
    _a_host_out_of_reach_runs_the_bootstrap_script(coordinator)
    timings["bootstrap-script"] = time.monotonic() - mark
    print("timings:", {k: round(v) for k, v in timings.items()}, "total", round(time.monotonic() - started))


def _provisioned_as_promised(coordinator: Coordinator, first: dict[str, dict[str, object]]) -> None:
    fleet = coordinator.hosts
    for done in first.values():
        assert done["manager"] == "openrc" and "fleet inventory" in done["changed"], done
        assert "/etc/build-swarm/drone.conf (a new token)" in done["changed"]
    drones = coordinator.fleet()
    assert {n: (d["state"], d["payload_version"]) for n, d in drones.items()} == {n: ("online", "0.1.0") for n in first}
    host = fleet.hosts[0]
    stat = fleet.ssh(host, "stat -c '%a %U' /etc/build-swarm/drone.conf; readlink /opt/build-swarm/venv; "
                           "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    mode, release, argv = stat.stdout.split("\n", 2)
    assert mode == "600 root" and release.startswith("releases/0.1.0-"), stat.stdout
    conf = fleet.ssh(host, "cat /etc/build-swarm/drone.conf").stdout
    token = re.search(r"SWARM_DRONE_TOKEN='?(bsd_[^'\n]+)", conf)
    assert token and token[1] not in argv and PASSWORD not in argv, argv
    assert fleet.ssh(host, "rc-update show default").stdout.count("build-swarm-drone") == 1  # it comes back after a reboot
    inventory = Path(coordinator.env["SWARM_FLEET_FILE"]).read_text()
    assert all(f'[drones.{n}]\nhost = "{h.address}"\ntype = "lxc"' in inventory for n, h in zip(first, fleet.hosts[:3], strict=True))


def _rolling_deploy_while_building(coordinator: Coordinator, tmp_path: Path) -> None:
    wheel = _bumped_wheel(tmp_path, "0.1.1")
    session = coordinator.session("--rebuild")  # the binhost holds the world already: built again, for the deploy to overlap
    wait_for(lambda: coordinator.fleet()["h1"]["in_flight"] > 0, 120, "h1 building")  # type: ignore[operator]
    run = coordinator.cli("drone", "deploy", "h1", "--wheel", str(wheel), "--json")
    assert run.code == 0 and run.json()[0]["outcome"] == "upgraded" and run.json()[0]["drained"], run.stdout + run.stderr
    shown = coordinator.cli("fleet").stdout
    assert "mixed build-swarm versions: 0.1.0 (" in shown and "0.1.1 (" in shown and " on h1" in shown, shown
    run = coordinator.cli("drone", "deploy", "--all", "--wheel", str(wheel), "--json")
    assert run.code == 0, run.stdout + run.stderr
    assert [(d["drone"], d["outcome"]) for d in run.json()] == [("h1", "already"), ("h2", "upgraded"), ("h3", "upgraded")]
    assert all(d["drained"] for d in run.json())
    drones = coordinator.fleet()
    assert {d["payload_version"] for d in drones.values()} == {"0.1.1"} and len({d["payload_hash"] for d in drones.values()}) == 1
    assert not any(d["paused"] for d in drones.values())
    coordinator.until_complete(session, "the session the deploy ran through")
    status = coordinator.status(session)
    assert status["counts"]["published"] == status["planned"], status  # type: ignore[index]
    paused = [e for e in coordinator.cli("events", "--kind", "drone.paused", "--json").json() if e["subject"] == "h1"]
    assert paused and paused[0]["ts"] < float(status["finished_at"]), "h1 was paused while the session built"  # type: ignore[arg-type]
    history = coordinator.cli("history", "--session", session, "--json").json()
    published = Counter(a["cpv"] for a in history if a["published_at"])
    assert set(published.values()) == {1} and len(published) == status["planned"], published  # nothing lost, nothing twice


def _a_failed_deploy_rolls_back(coordinator: Coordinator, tmp_path: Path) -> None:
    broken = _bumped_wheel(tmp_path, "0.1.2", broken=True)
    run = coordinator.cli("drone", "deploy", "h1", "h2", "--wheel", str(broken), "--wait", "20")
    assert run.code != 0 and "h1" in run.stderr and "is back on releases" not in run.stderr, run.stderr
    assert "h1: no hello from build-swarm 0.1.2" in run.stderr and "The roll stopped: upgraded none; not tried h2" in run.stderr, run.stderr
    drones = coordinator.fleet()
    assert drones["h1"]["payload_version"] == drones["h2"]["payload_version"] == "0.1.1" and not drones["h1"]["paused"]
    assert coordinator.hosts.ssh(coordinator.hosts.hosts[0], "readlink /opt/build-swarm/venv").stdout.startswith("releases/0.1.1-")


def _drift_fails_the_audit_and_holds_the_drone(coordinator: Coordinator) -> None:
    fleet = coordinator.hosts
    run = coordinator.cli("drone", "audit", "--json")
    assert run.code == 1, run.stdout + run.stderr  # features cannot be read (no portageq on these hosts): WARN, no FAIL
    assert all(a["exit"] == 1 for a in run.json())
    drifted = fleet.hosts[1]
    fleet.ssh(drifted, f"ln -sfn ../../var/db/repos/gentoo/profiles/{PROFILE}/desktop /etc/portage/make.profile")
    run = coordinator.cli("drone", "audit", "h2")
    assert run.code == 2 and f"FAIL  profile      is {PROFILE}/desktop: should be {PROFILE}" in run.stdout, run.stdout + run.stderr
    assert "error: FAIL on h2" in run.stderr
    wait_for(lambda: any("h2 does not match the golden drone: profile" in m for m in coordinator.events("drone.drift")), 60,
             "beat's audit to record the drift")
    wait_for(lambda: bool(coordinator.fleet()["h2"]["paused"]), 30, "h2 held")
    assert any("fix it" in m for m in coordinator.events("drone.held"))
    assert not coordinator.fleet()["h1"]["paused"] and not coordinator.fleet()["h3"]["paused"]
    print(json.dumps({n: d["paused"] for n, d in coordinator.fleet().items()}))


def _a_host_out_of_reach_runs_the_bootstrap_script(coordinator: Coordinator) -> None:
    """The admin prints the script on the coordinator, carries it to h4 and runs it there as root."""
    run = coordinator.cli("bootstrap-script", "--name", "h4", "--builder", "simulate", "--set", f"SWARM_TIME_SCALE={TIME_SCALE}")
    assert run.code == 0 and run.stdout.startswith("#!/bin/sh\n") and "keep it like a password" in run.stderr, run.stderr
    assert subprocess.run(["sh", "-n"], input=run.stdout, text=True, check=False).returncode == 0
    h4 = coordinator.hosts.hosts[3]
    # h4 has no package index: its admin stages the dependencies' wheels there and names them in pip.conf, pip's own way
    staged = subprocess.run(f"tar -C {wheelhouse()} -c . | ssh -i {coordinator.hosts.key} -o UserKnownHostsFile={coordinator.hosts.known_hosts} "
                            f"-o BatchMode=yes root@{h4.address} 'mkdir -p /root/wheels && tar -C /root/wheels -x && printf "
                            f"\"[global]\\nno-index = true\\nfind-links = /root/wheels\\n\" > /etc/pip.conf'", shell=True, check=False,
                            capture_output=True, text=True, timeout=120)
    assert staged.returncode == 0, staged.stderr
    ran = coordinator.hosts.ssh(h4, "cat > /root/h4.sh && sh /root/h4.sh && rm /root/h4.sh", timeout=300, stdin=run.stdout)
    assert ran.returncode == 0 and "== done: drone h4" in ran.stdout, ran.stdout + ran.stderr
    wait_for(lambda: coordinator.fleet().get("h4", {}).get("state") == "online", 60, "h4's hello")
    h4_view = coordinator.fleet()["h4"]
    assert h4_view["payload_version"] == "0.1.0" and len(str(h4_view["payload_hash"])) == 64, h4_view
    mode = coordinator.hosts.ssh(h4, "stat -c %a /etc/build-swarm/drone.conf; readlink /opt/build-swarm/venv").stdout.split()
    assert mode[0] == "600" and mode[1].startswith("releases/0.1.0-"), mode
