"""deploy/: the systemd units verified and scored by systemd-analyze; the OpenRC services started, checked, respawned and
stopped for real by openrc-run and supervise-daemon (the coordinator and a drone running the real build-swarm).

The units name the install layout's executable (/opt/build-swarm/venv/bin/build-swarm), which does not exist here
and which `systemd-analyze verify` refuses when missing: each unit is verified as a copy naming this checkout's
executable instead (nothing is installed under /opt by a test). The OpenRC services get the same through conf.d.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from swarm_celery.cli.main import COMMANDS
from tests.integration.deploy_kit import (
    DEPLOY,
    INSTALLED_BIN,
    VENV_BIN,
    OpenRc,
    free_port,
    need,
    openrc_root,
    ours,
    private_redis,
    wait_for,
)

# unit file → (the unit verified: a template by one instance, the exposure bound: measured with systemd 252 + 0.1)
UNITS = {
    "build-swarm-coordinator.service": ("build-swarm-coordinator.service", 1.3),
    "build-swarm-beat.service": ("build-swarm-beat.service", 1.2),
    "build-swarm-flower.service": ("build-swarm-flower.service", 1.2),
    "build-swarm-drone@.service": ("build-swarm-drone@box1.service", 9.3),  # emerge as root: see the unit's comments
}
SERVICES = ("build-swarm-coordinator", "build-swarm-beat", "build-swarm-flower")  # as build-swarm, with coordinator.env
SECRET = re.compile(r"SWARM_\w*(TOKEN|DATABASE_URL|BROKER_URL|SIGNING_KEY)=|FLOWER_BASIC_AUTH=|://[^/\s:@]*:[^/\s@]+@")


def unit_copy(tmp_path: Path, name: str) -> Path:
    text = (DEPLOY / "systemd" / name).read_text()
    assert INSTALLED_BIN in text, f"{name} does not run {INSTALLED_BIN}"
    (tmp_path / name).write_text(text.replace(INSTALLED_BIN, str(VENV_BIN)))
    return tmp_path / UNITS[name][0]


def keys(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path, name: str) -> None:
    analyze = need("systemd-analyze", "systemd")
    run = subprocess.run([analyze, "verify", str(unit_copy(tmp_path, name))], check=False, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, ""), run.stderr


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_stays_within_its_measured_security_exposure(tmp_path: Path, name: str) -> None:
    analyze = need("systemd-analyze", "systemd")
    run = subprocess.run([analyze, "security", "--offline=true", str(unit_copy(tmp_path, name))], check=False, capture_output=True, text=True,
                         timeout=60)
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    assert score is not None, run.stdout + run.stderr
    assert float(score[1]) <= UNITS[name][1], f"{name}: exposure {score[1]} over {UNITS[name][1]}\n{run.stdout}"


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_restarts_on_failure_logs_to_the_journal_and_holds_no_secret(name: str) -> None:
    found = keys(name)
    assert found["Restart"] == ["on-failure"] and found["RestartSec"] and found["StandardError"] == ["journal"]
    assert "network-online.target" in found["Wants"][0] and "network-online.target" in found["After"][0]
    command = found["ExecStart"][0].split()
    assert command[0] == INSTALLED_BIN and command[1] in COMMANDS
    assert not SECRET.search((DEPLOY / "systemd" / name).read_text())


@pytest.mark.parametrize("name", [f"{s}.service" for s in SERVICES])
def test_the_coordinator_side_runs_unprivileged_from_its_environment_file(name: str) -> None:
    found = keys(name)
    assert (found["User"], found["EnvironmentFile"]) == (["build-swarm"], ["/etc/build-swarm/coordinator.env"])
    assert (found["ProtectSystem"], found["ReadWritePaths"], found["CapabilityBoundingSet"]) == (["strict"], ["/var/lib/build-swarm"], [""])
    assert found["Environment"] == ["SWARM_HOME=/var/lib/build-swarm"] and found["SystemCallFilter"][0] == "@system-service"


def test_a_drone_instance_is_the_drone_name_and_reads_its_own_conf() -> None:
    found = keys("build-swarm-drone@.service")
    assert found["ExecStart"] == [f"{INSTALLED_BIN} drone --name %i"] and found["User"] == ["root"]
    assert "EnvironmentFile" not in found  # build-swarm reads drone-%i.conf or drone.conf itself (read_conf)
    assert (found["KillSignal"], found["KillMode"]) == (["SIGQUIT"], ["mixed"])


# --- OpenRC ---------------------------------------------------------------------------------------------------------

DEPENDS = {
    "build-swarm-coordinator": ["need net", "use redis postgresql", "after redis postgresql"],
    "build-swarm-beat": ["need net", "use redis", "after redis"],
    "build-swarm-flower": ["need net", "use redis", "after redis"],
    "build-swarm-drone": ["need net"],
}
STUBS = "".join(f"{word}() {{ echo {word} \"$@\"; }}\n" for word in ("need", "use", "want", "after", "before", "provide", "keyword"))


@pytest.mark.parametrize("name", DEPENDS)
def test_each_script_is_valid_sh_and_declares_its_dependencies(name: str) -> None:
    script = DEPLOY / "openrc" / "init.d" / name
    assert script.read_text().startswith("#!/sbin/openrc-run\n")
    syntax = subprocess.run(["sh", "-n", str(script)], check=False, capture_output=True, text=True)
    assert (syntax.returncode, syntax.stderr) == (0, "")
    run = subprocess.run(["sh", "-c", f'{STUBS}RC_SVCNAME={name}; . "$0" && depend', str(script)], check=False, capture_output=True, text=True)
    assert (run.returncode, run.stderr, run.stdout.splitlines()) == (0, "", DEPENDS[name])


STAND_IN = """#!/bin/sh
# stands in for build-swarm: says who it runs as and with what, then lives on
{{ echo "uid=$(id -u)"; echo "umask=$(umask)"; grep NoNewPrivs /proc/self/status; echo "args=$*"; env | grep -E '^(SWARM|FLOWER)_'; }} \\
  > {out}.tmp && mv {out}.tmp {out}
echo "stand-in started"
exec sleep 300
"""


def example_env(hostile: str) -> dict[str, str]:
    """coordinator.env.example read as systemd's EnvironmentFile= reads the subset it keeps to, plus ``hostile``."""
    values = {}
    for line in [*(DEPLOY / "env" / "coordinator.env.example").read_text().splitlines(), hostile]:
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
    return values


def test_the_service_runs_as_its_user_with_the_environment_file_and_no_secret_in_argv() -> None:
    with openrc_root() as rc:
        home, out = rc.root / "home", rc.root / "home" / "stand-in.out"
        stand_in = rc.root / "stand-in"
        stand_in.write_text(STAND_IN.format(out=out))
        stand_in.chmod(0o755)
        hostile = f"SWARM_DURATIONS=$(touch {rc.root}/ran) `touch {rc.root}/ran` $HOME"
        env = rc.root / "coordinator.env"
        env.write_text((DEPLOY / "env" / "coordinator.env.example").read_text() + f"SWARM_HOME={home}\n{hostile}\n")
        script = rc.install("build-swarm-coordinator", {"BUILD_SWARM_BIN": str(stand_in), "BUILD_SWARM_ENV": str(env),
                                                        "BUILD_SWARM_USER": "nobody", "BUILD_SWARM_LOGDIR": str(rc.root / "log"),
                                                        "BUILD_SWARM_ARGS": "--port 8081"})
        started = rc.run(script, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        wait_for(out.exists, 20, "the stand-in's report")
        report = out.read_text().splitlines()
        assert report[:4] == ["uid=65534", "umask=0027", "NoNewPrivs:\t1", "args=coordinator --port 8081"]
        assert dict(line.split("=", 1) for line in report[4:]) == example_env(hostile) | {"SWARM_HOME": str(home)}
        assert not (rc.root / "ran").exists()  # the file is read, never run
        assert rc.run(script, "status").returncode == 0
        child = rc.value(script, "child_pid")
        flags = re.search(r"flags:\s+(\d+)", Path(f"/proc/{child}/fdinfo/1").read_text())
        assert flags is not None and int(flags[1], 8) & os.O_APPEND  # what logrotate's copytruncate relies on
        argv = b" ".join(Path(f"/proc/{pid}/cmdline").read_bytes() for pid in ours(rc.root))
        assert b"CHANGE-ME" not in argv and b"CHANGE-ME" in Path(f"/proc/{child}/environ").read_bytes()
        log = rc.root / "log" / "coordinator.log"
        assert (log.owner(), log.read_text()) == ("nobody", "stand-in started\n") and (home.owner(), home.stat().st_mode & 0o777) == ("nobody", 0o750)
        assert rc.run(script, "stop").returncode == 0 and rc.run(script, "status").returncode == 3
        wait_for(lambda: not ours(rc.root), 10, "every process of the service to end")


@pytest.mark.parametrize(("line", "message"), [
    ("export SWARM_ARCH=amd64", "coordinator.env:2: expected NAME=value"),
    ("PATH=/tmp/evil", "coordinator.env:2: PATH is not a SWARM_* or FLOWER_* setting"),
])
def test_a_malformed_environment_file_stops_the_start_naming_its_line(line: str, message: str) -> None:
    with openrc_root() as rc:
        env = rc.root / "coordinator.env"
        env.write_text(f"SWARM_HOME={rc.root}/home\n{line}\n")
        script = rc.install("build-swarm-coordinator", {"BUILD_SWARM_ENV": str(env), "BUILD_SWARM_BIN": "/bin/false",
                                                        "BUILD_SWARM_LOGDIR": str(rc.root / "log")})
        started = rc.run(script, "start")
        assert started.returncode != 0 and message in started.stdout + started.stderr
        assert not ours(rc.root)


def real_env(rc: OpenRc, broker: str, **extra: str) -> Path:
    env = rc.root / "coordinator.env"
    values = {"SWARM_HOME": str(rc.root / "home"), "SWARM_BROKER_URL": broker, "SWARM_API_TOKEN": "t0ken", **extra}
    env.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return env


@pytest.mark.slow  # a real service: 5-20 s
def test_the_real_coordinator_serves_its_api_refuses_a_second_beat_and_stops_with_everything() -> None:
    with openrc_root() as rc, private_redis(rc.root) as broker:
        port = free_port()
        conf = {"BUILD_SWARM_BIN": str(VENV_BIN), "BUILD_SWARM_USER": "root", "BUILD_SWARM_LOGDIR": str(rc.root / "log"),
                "BUILD_SWARM_ENV": str(real_env(rc, broker, SWARM_API_PORT=str(port)))}
        script = rc.install("build-swarm-coordinator", conf)
        assert rc.run(script, "start").returncode == 0
        wait_for(lambda: _healthy(port), 60, f"the coordinator API on port {port}")
        log = rc.root / "log" / "coordinator.log"
        wait_for(lambda: all(s in log.read_text() for s in ("Connected to redis://", " ready.", "beat: Starting...")),
                 60, "the worker and beat to start")
        assert rc.run(script, "status").returncode == 0
        beat = rc.install("build-swarm-beat", conf)
        refused = rc.run(beat, "start")
        assert refused.returncode != 0 and "build-swarm-coordinator is running and runs beat itself" in refused.stdout + refused.stderr
        assert rc.run(script, "stop").returncode == 0
        wait_for(lambda: not ours(rc.root), 20, "the coordinator's worker, API and beat to end")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow  # a real service: 5-20 s
def test_beat_runs_for_real_and_stops() -> None:
    with openrc_root() as rc, private_redis(rc.root) as broker:
        log = rc.root / "log" / "beat.log"
        script = rc.install("build-swarm-beat", {"BUILD_SWARM_BIN": str(VENV_BIN), "BUILD_SWARM_USER": "root",
                                                 "BUILD_SWARM_LOGDIR": str(log.parent), "BUILD_SWARM_ENV": str(real_env(rc, broker))})
        assert rc.run(script, "start").returncode == 0
        wait_for(lambda: "beat: Starting..." in log.read_text(), 30, "beat to start")
        assert rc.run(script, "status").returncode == 0 and (rc.root / "home" / "beat-schedule.dat").exists()
        assert rc.run(script, "stop").returncode == 0
        wait_for(lambda: not ours(rc.root), 20, "beat to end")


@pytest.mark.slow  # a real service: 5-20 s
def test_flower_runs_for_real_and_stops() -> None:
    with openrc_root() as rc, private_redis(rc.root) as broker:
        port = free_port()
        env = real_env(rc, broker, FLOWER_ADDRESS="127.0.0.1", FLOWER_PORT=str(port))
        script = rc.install("build-swarm-flower", {"BUILD_SWARM_BIN": str(VENV_BIN), "BUILD_SWARM_USER": "root",
                                                   "BUILD_SWARM_LOGDIR": str(rc.root / "log"), "BUILD_SWARM_ENV": str(env)})
        assert rc.run(script, "start").returncode == 0
        # the admin token of coordinator.env is Flower's basic-auth password (user admin)
        wait_for(lambda: _answers_http(f"http://127.0.0.1:{port}/api/workers", ("admin", "t0ken")), 60, f"Flower on port {port}")
        assert not _answers_http(f"http://127.0.0.1:{port}/api/workers")
        assert rc.run(script, "status").returncode == 0 and rc.run(script, "stop").returncode == 0
        wait_for(lambda: not ours(rc.root), 20, "Flower to end")


def _answers_http(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, timeout=1, auth=auth).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow  # a real service: 5-20 s
def test_a_drone_killed_with_sigkill_is_respawned_and_its_pid_file_follows() -> None:
    with openrc_root() as rc, private_redis(rc.root) as broker:
        conf = rc.root / "drone.conf"
        conf.write_text(f"SWARM_BROKER_URL={broker}\nSWARM_HOME={rc.root / 'drone-home'}\nSWARM_SLOTS=1\nSWARM_HEARTBEAT=1\nSWARM_BUILDER=simulate\n")
        name = f"t{rc.root.name.rsplit('-', 1)[-1].lower()}"
        script = rc.install("build-swarm-drone", {"BUILD_SWARM_BIN": str(VENV_BIN), "BUILD_SWARM_LOGDIR": str(rc.root / "log"),
                                                  "BUILD_SWARM_DRONE_CONF": str(conf), "respawn_delay": "1"}, as_name=f"build-swarm-drone.{name}")
        log, pidfile = rc.root / "log" / f"drone.{name}.log", Path(f"/run/build-swarm-drone.{name}.pid")
        assert rc.run(script, "start").returncode == 0
        wait_for(lambda: f"{name}@" in log.read_text() and " ready." in log.read_text(), 60, f"drone {name} to be ready")
        first = int(rc.value(script, "child_pid"))
        assert int(pidfile.read_text()) == first and f"--name {name} --config {conf}" in _cmdline(first)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: rc.value(script, "child_pid") not in ("", str(first)), 30, "supervise-daemon to respawn the drone")
        second = int(rc.value(script, "child_pid"))
        wait_for(lambda: log.read_text().count(" ready.") == 2, 60, "the respawned drone to be ready")
        assert int(pidfile.read_text()) == second != first and rc.run(script, "status").returncode == 0
        assert rc.run(script, "stop").returncode == 0 and not pidfile.exists()
        wait_for(lambda: not ours(rc.root), 20, "the drone's worker and pool to end")
        assert "Cold shutdown" in log.read_text()  # SIGQUIT


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
