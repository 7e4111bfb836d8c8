"""Celery's own command line on the module-level app, as Celery's docs use it: `celery -A swarm_celery worker -Q build.amd64`
is a drone that builds a whole session next to a build-swarm coordinator, `inspect ping` sees both workers, and
`celery -A swarm_celery flower` serves them behind basic auth. Real Redis, real workers, real Flower."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.deploy_kit import free_port, wait_for
from tests.integration.swarm_kit import Swarm, live_swarm

CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_HEARTBEAT="1", SWARM_TIME_SCALE="0.0005")


def _celery(swarm: Swarm, args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``celery -A swarm_celery ARGS`` as a user runs it: SWARM_* in the environment, from another directory."""
    environ = {k: v for k, v in swarm.env.items() if k != "SWARM_DATABASE_URL"} | env  # a drone holds no database URL
    with log.open("wb") as out:
        return subprocess.Popen([CELERY, "-A", "swarm_celery", *args], env=environ, cwd=log.parent, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_celery_worker_on_build_amd64_is_a_drone_that_builds_a_whole_session(swarm: Swarm, tmp_path: Path) -> None:
    drone = _celery(swarm, ["worker", "-Q", "build.amd64,drone.box1", "-n", "drone.box1@%h", "-c", "2", "-l", "info"],
                    tmp_path / "celery-drone.log", SWARM_DRONE_NAME="box1")
    try:
        swarm.wait(lambda: any(d.name == "box1" and d.state == "online" for d in swarm.queries.fleet()), 60, "box1's hello")
        ping = subprocess.run([CELERY, "-A", "swarm_celery", "inspect", "ping", "--timeout", "3"], env=swarm.env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)
        assert ping.returncode == 0 and "->  coordinator@" in ping.stdout and "->  drone.box1@" in ping.stdout, ping.stdout + ping.stderr
        session = swarm.new_session()
        swarm.wait(lambda: swarm.state(session) == "complete", 180, "the session")
        drones = {p.drone for p in swarm.queries.history(session)}
        assert drones == {"box1"} and all(p.state == "published" for p in swarm.packages(session).values())
    finally:
        _stop(drone)


def test_celery_flower_on_the_module_app_sees_the_workers_behind_basic_auth(swarm: Swarm, tmp_path: Path) -> None:
    port = free_port()
    flower = _celery(swarm, ["flower", f"--port={port}", "--address=127.0.0.1", "--basic-auth=admin:flower-secret"],
                     tmp_path / "flower.log")
    try:
        url = f"http://127.0.0.1:{port}/api/workers?refresh=1"
        wait_for(lambda: _answers(url), 60, "Flower")
        assert httpx.get(url, timeout=10).status_code == 401
        # Flower asks the workers with its own short timeout: on a loaded machine the first answer may come late
        wait_for(lambda: any(name.startswith("coordinator@") for name in httpx.get(url, auth=("admin", "flower-secret"), timeout=30).json()),
                 60, "Flower to list the coordinator's worker")
    finally:
        _stop(flower)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        time.sleep(0.2)
        return False
    return True
