"""`build-swarm coordinator`: the worker, the API and beat start together, pass --repo on to the API, and stop together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.api_kit import free_port
from tests.integration.demo_kit import cli_env
from tests.integration.swarm_kit import fresh_redis


@pytest.mark.slow
def test_the_coordinator_runs_worker_api_and_beat_and_stops_them_together(tmp_path: Path, portage_cache: Path, redis_url: str) -> None:
    port = free_port()
    env = cli_env(tmp_path, portage_cache, SWARM_BROKER_URL=fresh_redis(redis_url), SWARM_API_TOKEN="t0ken")
    log = (tmp_path / "coordinator.out").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "swarm_celery", "coordinator", "--repo", str(tmp_path / "no-such-repo"), "--port",
                             str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        children = {" ".join(argv[3:5]).strip() for argv in children_of(proc.pid)}
        assert children == {"worker --role", "api --repo", "beat"}, children
        refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/queue", json={"atoms": ["app-misc/tmux"]},
                             headers={"Authorization": "Bearer t0ken"})
        assert refused.status_code == 400 and "no-such-repo" in refused.json()["error"]  # the API got --repo
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        log.close()
    assert children_of(proc.pid) == []


def children_of(pid: int) -> list[list[str]]:
    """The command lines of ``pid``'s child processes (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                found.append(stat.with_name("cmdline").read_bytes().decode().split("\0"))
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_the_coordinator_with_flower_runs_it_too_behind_the_admin_token(tmp_path: Path, portage_cache: Path, redis_url: str) -> None:
    port, flower = free_port(), free_port()
    env = cli_env(tmp_path, portage_cache, SWARM_BROKER_URL=fresh_redis(redis_url), SWARM_API_TOKEN="t0ken", SWARM_API_PORT=str(port),
                  FLOWER_PORT=str(flower))
    proc = subprocess.Popen([sys.executable, "-m", "swarm_celery", "coordinator", "--flower"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{flower}/api/workers", auth=("admin", "t0ken"), timeout=2)
            except httpx.HTTPError:
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{flower}/api/workers", timeout=2).status_code == 401
        assert {" ".join(argv[3:4]) for argv in children_of(proc.pid)} == {"worker", "api", "beat", "flower"}
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert children_of(proc.pid) == []
