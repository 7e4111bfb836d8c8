"""A live swarm to look at: real Redis, a coordinator worker, simulated drones, the coordinator API and Flower as processes.

The synthetic tree's 48 packages, each build the default 16 s × ``SWARM_TIME_SCALE`` (an empty
durations table), so a session runs long enough to watch: the dashboard, `monitor`, Flower and
/metrics are each looked at while builds happen.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from swarm_celery import bootstrap
from tests.conftest import reachable_redis
from tests.integration.api_kit import free_port
from tests.integration.swarm_kit import Swarm, live_swarm

__all__ = ["TOKEN", "Live", "live", "reachable_redis", "wait_http"]

TOKEN = "live-admin-token-0123456789"
BUILD_SCALE = "0.08"  # 16 s × 0.08 ≈ 1.3 s per build: a session takes some 25 s on two drones


@dataclass
class Live:
    swarm: Swarm
    home: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_url: str = ""

    def serve(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.home / "logs" / f"{args[0]}-{len(self.processes)}.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "swarm_celery", *args], env={**self.swarm.env, **env}, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def api(self, **env: str) -> str:
        """A coordinator API on a free port (the admin token is TOKEN); its base URL once it answers."""
        port = free_port()
        process = self.serve("api", "--port", str(port), SWARM_API_TOKEN=TOKEN, **env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", process, 60)
        return url

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float, auth: tuple[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: its server exited with {process.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, auth=auth).status_code < 500:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def live(home: Path, portage_cache: Path, redis_url: str, drones: dict[str, dict[str, str]] | None = None, beat: bool = False,
         upload: bool = False, **settings: str) -> Iterator[Live]:
    """The stack, with ``drones`` (name → its own settings; default box1 and nas), with ``beat`` beat's periodic jobs, with
    ``upload`` an API (``api_url``) the drones upload to."""
    names = drones or {"box1": {}, "nas": {}}
    durations = home / "durations.csv"
    home.mkdir(parents=True, exist_ok=True)
    durations.write_text("package,seconds\n")
    env = {"SWARM_TIME_SCALE": BUILD_SCALE, "SWARM_DURATIONS": str(durations), "SWARM_HEARTBEAT": "2", "SWARM_API_TOKEN": TOKEN, **settings}
    for swarm in live_swarm(home, portage_cache, redis_url, **env):
        if beat:
            swarm.stack.start("beat", "beat")
        found = Live(swarm, home)
        try:
            uploads = {}
            if upload:  # drones upload artifacts and logs over HTTP, each with its own token, as on a real fleet
                found.api_url = found.api()
                tokens = bootstrap.drone_tokens(swarm.settings)
                uploads = {name: {"SWARM_COORDINATOR_URL": found.api_url, "SWARM_DRONE_TOKEN": tokens.issue(name)} for name in names}
            for name in names:
                swarm.start_drones([name], {**names[name], **uploads.get(name, {})})
            yield found
        finally:
            found.stop()
