"""Watching a swarm that builds, fails, freezes and grounds: `build-swarm monitor` in tmux, a real Flower, /metrics.

One stack (real Redis, a coordinator worker, beat, the API, three simulated drones uploading over HTTP) runs one session in which
``broken`` fails every build on infrastructure (and is grounded after two) and ``nas`` is frozen
mid-build past its lease (its attempt is reclaimed; its late report, once it wakes, is stale).
While it runs: the monitor is driven through tmux (capture-pane, send-keys q), /metrics is
scraped and every metric of the issue must move, a real Prometheus evaluates every panel of the Grafana
dashboard (deploy/grafana/) against what it scraped, and Flower's HTTP API lists the drones' workers
and the swarm.build tasks (authenticated with the admin token, under a URL prefix, its state kept
across a restart).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.integration.api_kit import free_port
from tests.integration.live_kit import TOKEN, Live, live, reachable_redis, wait_http
from tests.integration.prometheus_kit import dashboard_queries, prometheus, query

pytestmark = pytest.mark.slow

SETTINGS = {"SWARM_BREAKER_FAILURES": "2", "SWARM_GROUND_FOR": "600", "SWARM_OFFLINE_AFTER": "4", "SWARM_LEASE": "6",
            "SWARM_RECLAIM_EVERY": "1", "SWARM_RETRY_BACKOFF": "0.2"}
DRONES = {"box1": {}, "nas": {}, "broken": {"SWARM_SIMULATE_FAIL": "infra:*"}}
METRIC = re.compile(r"^(\w+)(\{[^}]*\})? (\S+)$")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, portage_cache: Path) -> Iterator[Live]:
    yield from live(tmp_path_factory.mktemp("watch"), portage_cache, reachable_redis(), DRONES, beat=True, upload=True, **SETTINGS)


def scrape(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    found = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match:
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


def total(sample: dict[str, float], name: str, where: str = "") -> float:
    return sum(v for k, v in sample.items() if (k == name or k.startswith(name + "{")) and where in k)


WATCHED: dict[str, Callable[[dict[str, float]], float]] = {
    "queue depth (ready, amd64)": lambda m: total(m, "swarm_queue_depth", 'stage="ready"'),
    "builds running per drone": lambda m: total(m, "swarm_drone_builds_running"),
    "build durations (success)": lambda m: total(m, "swarm_build_duration_seconds_count", 'class="success"'),
    "build durations (disk_full)": lambda m: total(m, "swarm_build_duration_seconds_count", 'class="disk_full"'),
    "failures by class (disk_full)": lambda m: total(m, "swarm_build_failures_total", 'class="disk_full"'),
    "reclaims": lambda m: total(m, "swarm_reclaims_total"),
    "stale reports": lambda m: total(m, "swarm_stale_reports_total"),
    "grounded drones": lambda m: total(m, "swarm_drones_grounded"),
    "coordinator batch latency": lambda m: total(m, "swarm_coordinator_batch_seconds_count", 'kind="build_finished"'),
    "publish latency": lambda m: total(m, "swarm_publish_latency_seconds_count"),
    "uploads": lambda m: total(m, "swarm_uploads_accepted_total"),
}


class Tmux:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        if shutil.which("tmux") is None:
            unavailable("tmux is not installed (apt-get install tmux; scripts/services.sh installs it)")
        self.socket, self.env = f"swarm-test-{os.getpid()}", env
        script = home / "monitor.sh"
        exports = "".join(f"export {k}={v!r}\n" for k, v in env.items() if k.startswith("SWARM_"))
        self.errors, self.exit = home / "monitor.err", home / "monitor.exit"
        script.write_text(f"#!/bin/sh\n{exports}{sys.executable} -m swarm_celery monitor --interval 0.5 2>{self.errors}\n"
                          f"echo $? > {self.exit}\n")
        script.chmod(0o755)
        self.run("new-session", "-d", "-s", "mon", "-x", "150", "-y", "60", str(script))
        self.run("set-option", "-t", "mon", "remain-on-exit", "on")

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True, timeout=20).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "mon")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=20)


def test_monitor_metrics_and_flower_while_the_swarm_builds(stack: Live) -> None:
    swarm, base = stack.swarm, stack.api_url
    before = scrape(base)
    flower_port = free_port()
    flower = stack.serve("flower", "--port", str(flower_port), "--url-prefix", "flower")
    tmux = Tmux(stack.home, swarm.env)
    with prometheus(stack.home / "prometheus", base, TOKEN) as prom:
        try:
            session = swarm.new_session()
            seen = _watch_run(stack, base, tmux, session)
            after = scrape(base)
            _monitor_quits(tmux)
        finally:
            tmux.close()
        time.sleep(2)  # a last scrape or two
        empty = [(title, expr) for title, expr in dashboard_queries() if not query(prom, expr)]
    assert empty == []  # every panel of deploy/grafana/build-swarm.json shows data from the real run
    moved = {name: (f(before), max(f(s) for s in seen), f(after)) for name, f in WATCHED.items()}
    assert {name: v for name, v in moved.items() if not max(v[1], v[2]) > v[0]} == {}, moved
    assert total(after, "swarm_build_duration_seconds_count", 'class="success"') == len(swarm.packages(session))
    _flower_lists_workers_and_builds(stack, flower, flower_port)


def _watch_run(stack: Live, base: str, tmux: Tmux, session: str) -> list[dict[str, float]]:
    """Scrape and capture the monitor while the session runs; freeze nas mid-build past its lease, then let it go."""
    swarm, seen, frames = stack.swarm, [], []
    nas = next(w for w in swarm.stack.workers if w.name == "nas")
    swarm.wait(lambda: any(r.drone == "nas" for r in swarm.queries.running(session)), 60, "nas to build")
    followed = next(r for r in swarm.queries.running(session) if r.drone == "nas")
    follower = subprocess.Popen([sys.executable, "-m", "swarm_celery", "logs", followed.attempt, "--follow", "--interval", "0.2"],
                                env=swarm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.killpg(nas.process.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        while swarm.state(session) != "complete":
            seen.append(scrape(base))
            frames.append(tmux.screen())
            if frozen and time.monotonic() - frozen > 10:
                os.killpg(nas.process.pid, signal.SIGCONT)
                frozen = 0.0
            assert time.monotonic() - frozen < 300 if frozen else True
            time.sleep(0.5)
    finally:
        os.killpg(nas.process.pid, signal.SIGCONT)
    swarm.wait(lambda: any(e.kind == "attempt.stale" for e in swarm.queries.events(session, 1000)), 30, "nas's stale report")
    out, err = follower.communicate(timeout=60)  # `logs --follow` of nas's frozen build ends once its attempt is over
    assert follower.returncode == 0 and out.startswith(f">>> Emerging (1 of 1) {followed.cpv}") and err == "", (out, err)
    seen.append(scrape(base))
    _check_frames(frames, session)
    return seen


def _check_frames(frames: list[str], session: str) -> None:
    done = [int(m.group(1)) for f in frames for m in [re.search(rf"{session}.*?(\d+)/\d+", f)] if m]
    assert len(set(done)) >= 3, f"the monitor's progress did not move: {done}"
    assert any(re.search(r"box1 +│ online.*\S+-\d\S* \d+:\d\d/\d+:\d\d", f) for f in frames), frames[-1]
    assert any("broken" in f and "grounded" in f for f in frames), frames[-1]
    assert all("latest events" in f and "drones" in f for f in frames[-3:])


def _monitor_quits(tmux: Tmux) -> None:
    tmux.run("send-keys", "-t", "mon", "q")
    deadline = time.monotonic() + 15
    while not tmux.exit.exists() or not tmux.exit.read_text().strip():
        assert time.monotonic() < deadline, f"q did not end the monitor: {tmux.screen()} {tmux.errors.read_text()[-3000:]}"
        time.sleep(0.2)
    assert tmux.exit.read_text().strip() == "0", tmux.errors.read_text()[-3000:]  # it ended by itself, with success


def _flower_lists_workers_and_builds(stack: Live, flower: subprocess.Popen[bytes], port: int) -> None:
    url, auth = f"http://127.0.0.1:{port}/flower", ("admin", TOKEN)
    wait_http(f"{url}/api/workers", flower, 60, auth)
    assert httpx.get(f"{url}/api/workers", timeout=10).status_code == 401
    workers = _until(lambda: httpx.get(f"{url}/api/workers?refresh=1", auth=auth, timeout=30).json(),
                     lambda w: {n.split("@")[0] for n in w} >= {"drone.box1", "drone.nas", "drone.broken", "coordinator"}, 60,
                     "Flower's workers")
    assert {n.split("@")[0] for n in workers} >= {"drone.box1", "drone.nas", "drone.broken"}
    builds = httpx.get(f"{url}/api/tasks", params={"taskname": "swarm.build", "limit": 1000}, auth=auth, timeout=30).json()
    assert len(builds) >= 48 and {t["state"] for t in builds.values()} >= {"SUCCESS"}
    assert {t["worker"].split("@")[0] for t in builds.values()} >= {"drone.box1", "drone.nas"}
    flower.send_signal(signal.SIGTERM)
    assert flower.wait(timeout=30) == 0
    again = stack.serve("flower", "--port", str(port), "--url-prefix", "flower")
    wait_http(f"{url}/api/workers", again, 60, auth)
    kept = httpx.get(f"{url}/api/tasks", params={"taskname": "swarm.build", "limit": 1000}, auth=auth, timeout=30).json()
    assert set(kept) >= set(builds)  # persistent: the task list survived the restart


def _until(get: Callable[[], dict[str, object]], ok: Callable[[dict[str, object]], bool], timeout: float, what: str) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while not ok(found := get()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {found}"
        time.sleep(1)
    return found
