"""`build-swarm drone`: configured by drone.conf, refuses bad settings before it starts, announces what it builds with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import install_fake_emerge
from tests.integration.demo_kit import cli_env, run_cli
from tests.integration.swarm_kit import Swarm, live_swarm

TIMESTAMP = "Thu, 26 Nov 2026 00:45:01 +0000"


def drone_conf(tmp_path: Path, broker: str, **extra: str) -> Path:
    tree = tmp_path / "tree"
    (tree / "metadata").mkdir(parents=True, exist_ok=True)
    (tree / "metadata" / "timestamp.chk").write_text(TIMESTAMP + "\n")
    etc = tmp_path / "etc-portage"
    etc.mkdir(exist_ok=True)
    if not (etc / "make.profile").is_symlink():
        (etc / "make.profile").symlink_to("../../var/db/repos/gentoo/profiles/default/linux/arm64/23.0/systemd")
    lines = {"SWARM_BROKER_URL": broker, "SWARM_ARCH": "arm64", "SWARM_SLOTS": "2", "SWARM_TREE": str(tree),
             "SWARM_PORTAGE_CONFIGROOT": str(etc), "SWARM_HOME": str(tmp_path / "drone-home"), "SWARM_HEARTBEAT": "1",
             "SWARM_BUILDER": "simulate", **extra}
    path = tmp_path / "drone.conf"
    path.write_text("# written by the test\n" + "".join(f"{k}='{v}'\n" for k, v in lines.items()))
    return path


def bare_env(tmp_path: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")} | {"SWARM_HOME": str(tmp_path / "cli-home")}


def test_check_shows_the_identity_and_the_emerge_settings(tmp_path: Path, redis_url: str) -> None:
    fake = install_fake_emerge(tmp_path / "bin")
    conf = drone_conf(tmp_path, redis_url, SWARM_BUILDER="emerge", SWARM_EMERGE=str(fake),
                      SWARM_BINHOST_URL="http://coordinator:8080/binhost/arm64")
    run = run_cli(["drone", "--config", str(conf), "--name", "nas", "--check", "--json"], bare_env(tmp_path))
    assert run.code == 0, run.output
    shown = json.loads(run.stdout)
    assert len(shown["identity"].pop("payload_hash")) == 64  # the digest of the build-swarm code it runs
    assert shown["identity"] | {"cores": 0, "memory_mb": 0, "disk_free_mb": 0} == {
        "name": "nas", "arch": "arm64", "cores": 0, "memory_mb": 0, "disk_free_mb": 0, "slots": 2, "paused": False,
        "tree_timestamp": TIMESTAMP, "gentoo_profile": "default/linux/arm64/23.0/systemd", "profile": "default/linux/arm64/23.0/systemd",
        "payload_version": "0.1.0", "builder": "emerge", "running": []}
    assert shown["queues"] == ["build.arm64", "drone.nas"] and shown["binhost"] == "http://coordinator:8080/binhost/arm64"


@pytest.mark.parametrize(("extra", "message"), [
    ({"SWARM_BUILDER": "emerge", "SWARM_EMERGE": "/nonexistent/emerge"}, "'/nonexistent/emerge' is not an executable on PATH"),
    ({"SWARM_BUILDER": "emerge", "SWARM_BINHOST_URL": "coordinator:8080"}, "is not an http(s)://, file:// or ssh:// URL"),
    ({"SWARM_BUILDER": "distcc"}, "unknown builder 'distcc'"),
    ({"SWARM_SLOTS": "two"}, "SWARM_SLOTS='two' is not a number"),
])
def test_bad_settings_stop_the_drone_before_it_starts(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    if extra.get("SWARM_EMERGE") is None and extra.get("SWARM_BUILDER") == "emerge":
        extra = {**extra, "SWARM_EMERGE": str(install_fake_emerge(tmp_path / "bin"))}
    run = run_cli(["drone", "--config", str(drone_conf(tmp_path, "redis://127.0.0.1:6379/7", **extra)), "--check"], bare_env(tmp_path))
    assert run.code == 2 and message in run.stderr, run.output


def test_the_environment_overrides_the_file_and_a_missing_file_is_named(tmp_path: Path) -> None:
    conf = drone_conf(tmp_path, "redis://127.0.0.1:6379/7")
    run = run_cli(["drone", "--config", str(conf), "--check", "--json"], bare_env(tmp_path) | {"SWARM_SLOTS": "3"})
    assert json.loads(run.stdout)["identity"]["slots"] == 3
    run = run_cli(["drone", "--config", str(tmp_path / "missing.conf"), "--check"], bare_env(tmp_path))
    assert run.code == 2 and "cannot read" in run.stderr and "missing.conf" in run.stderr


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_HEARTBEAT="1")


@pytest.mark.slow
def test_a_running_drone_announces_its_tree_profile_and_version(swarm: Swarm, tmp_path: Path) -> None:
    conf = drone_conf(tmp_path, swarm.settings.broker_url)
    env = cli_env(tmp_path / "elsewhere", tmp_path / "portage-cache") | {"SWARM_DRONE_NAME": "hall-nas"}
    env.pop("SWARM_HOME")
    log = (tmp_path / "drone.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "swarm_celery", "drone", "--config", str(conf)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        swarm.wait(lambda: any(d.name == "hall-nas" for d in swarm.queries.fleet()), 60, "the drone's hello")
        fleet = swarm.cli("fleet", "--json")
        drone = next(d for d in json.loads(fleet.stdout) if d["name"] == "hall-nas")
        assert (drone["arch"], drone["slots"], drone["state"]) == ("arm64", 2, "online")
        assert (drone["tree_timestamp"], drone["profile"], drone["builder"]) == (TIMESTAMP, "default/linux/arm64/23.0/systemd", "simulate")
        assert drone["payload_version"] == "0.1.0"
        assert "hall-nas" in swarm.cli("fleet").stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
