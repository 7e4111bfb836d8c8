"""A real local swarm for the benchmarks: Redis (a private database number), SQLite, a coordinator and N drones.

The plan is injected through the coordinator service (``Coordinator.save_plan``) so
the benchmark times scheduling and building, not portage. Dispatch is paused (the
``control pause`` flag) while the workers boot: the run starts with a ``control resume``
once every drone has announced itself and the machine has settled, so the makespan
measures N drones, not N worker processes importing Python on two cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from swarm_celery import bootstrap
from swarm_celery.bootstrap.coordinator import coordinator as coordinator_service
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.controls import Action, ControlRequest
from swarm_celery.domain.model import COORDINATOR_QUEUE, Plan
from swarm_celery.local.stack import DRONE_NICENESS, LocalStack
from swarm_celery.services.dispatch import PAUSED_FLAG
from swarm_celery.settings import Settings
from swarm_celery.store.queries import Queries

HERE = Path(__file__).resolve().parent
SETTLE = 3.0  # seconds between the last drone's hello and the start: the workers finish booting
REQUEST = ResolveRequest(repos=("/bench",), gentoo_profile="default/linux/amd64/23.0/systemd", arch="amd64", world=("bench/world",))


@dataclass
class Run:
    makespan: float  # first dispatch → last publication (seconds)
    wall: float  # dispatch sent → session complete, as the caller saw it
    published: int
    home: Path  # the run's SWARM_HOME: its store, binhost and worker logs stay for a look afterwards
    companion_cpu: float = 0.0  # CPU seconds the ``alongside`` command used during the run
    coordinator_cpu: float = 0.0  # CPU seconds the coordinator worker (one process: the solo pool) used from resume to the end
    session: str = ""
    drones_cpu: float = 0.0  # CPU seconds the light drone hosts used from resume to the end (light_hosts only)


def run_plan(plan: Plan, drones: int, redis_url: str, env: dict[str, str], timeout: float = 1800.0,
             alongside: tuple[str, ...] = (), drone_env: Callable[[str], dict[str, str]] | None = None, light_hosts: int = 0) -> Run:
    """Build ``plan`` on ``drones`` simulated drone workers; returns when the session is complete.

    ``alongside``: a `build-swarm` command line (e.g. ``("flower", "--port", "5599")``) run during the build, started
    with the workers and stopped with them. ``drone_env``: extra settings of the drone of a name (its own key, say).
    ``light_hosts``: the drones are light drones (light_drones.py), this many processes hosting them all."""
    home = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings.from_env({"SWARM_HOME": str(home), "SWARM_BROKER_URL": redis_url, "SWARM_HEARTBEAT": "5", "SWARM_BUILDER": "simulate",
                                  **env})
    store = bootstrap.store(settings)
    app = bootstrap.celery_app(settings)
    session_id = uuid.uuid4().hex[:12]
    store.create_session(session_id, REQUEST, simulated=True)
    # bootstrap.coordinator is also the name of a part: once that module is imported, the package attribute is the module
    coordinator_service(settings, app).planner.save_plan(session_id, plan)
    store.set_flag(PAUSED_FLAG, "1")  # nothing is dispatched before every drone is up (resumed below)
    stack = LocalStack(env=settings.to_env(), logs=settings.logs_dir)
    queries = Queries(store.engine)
    companion: subprocess.Popen[bytes] | None = None
    companion_cpu = 0.0
    hosts: list[subprocess.Popen[bytes]] = []
    drones_cpu = drones_booted = 0.0
    try:
        coordinator = stack.start("coordinator", "coordinator")
        if light_hosts:
            hosts = light(settings.to_env(), settings.logs_dir, drones, light_hosts, "swarm")
        for i in range(0 if light_hosts else drones):
            name = f"bench-{i:02d}"
            stack.start(name, "drone", {"SWARM_DRONE_NAME": name, **(drone_env(name) if drone_env else {})})
        if alongside:
            companion = subprocess.Popen([sys.executable, "-m", "swarm_celery", *alongside], env={**os.environ, **settings.to_env()},
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait(lambda: sum(d.state == "online" for d in queries.fleet()) == drones, 120, stack, hosts)
        time.sleep(SETTLE)
        start, booted = time.monotonic(), cpu_seconds(coordinator.process.pid)
        drones_booted = sum(cpu_seconds(p.pid) for p in hosts)
        app.send_task("swarm.control", args=[ControlRequest(Action.RESUME, request_id="bench").to_json()], queue=COORDINATOR_QUEUE)
        _wait(lambda: getattr(queries.session(session_id), "state", "") == "complete", timeout, stack, hosts)
        wall = time.monotonic() - start
        coordinator_cpu = cpu_seconds(coordinator.process.pid) - booted
    finally:
        drones_cpu = sum(cpu_seconds(p.pid) for p in hosts if p.poll() is None) - drones_booted
        stop_all(hosts)
        if companion is not None:
            companion_cpu = cpu_seconds(companion.pid)
            companion.terminate()
            companion.wait(timeout=30)
        stack.stop(grace=5)
    history = queries.history(session_id)
    published = [h.published_at for h in history if h.published_at]
    return Run(max(published) - min(h.dispatched_at for h in history), wall, len(published), home, companion_cpu, coordinator_cpu,
               session_id, drones_cpu)


def light(env: dict[str, str], logs: Path, drones: int, hosts: int, mode: str, ready: Path | None = None) -> list[subprocess.Popen[bytes]]:
    """``hosts`` processes of light drones (light_drones.py), ``drones`` in all, niced like drone workers; with
    ``ready``: returns once each consumes its queues (a file per host in that folder)."""
    logs.mkdir(parents=True, exist_ok=True)
    per, started = -(-drones // hosts), []
    for first in range(0, drones, per):
        flag = [] if ready is None else ["--ready", str(ready / f"host-{first}")]
        argv = ["nice", "-n", str(DRONE_NICENESS), sys.executable, str(HERE / "light_drones.py"), "--first", str(first),
                "--count", str(min(per, drones - first)), "--mode", mode, *flag]
        with (logs / f"light-{first}.log").open("ab") as out:
            started.append(subprocess.Popen(argv, env={**os.environ, **env, "PYTHONPATH": _path()}, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True))
    if ready is not None:
        deadline = time.monotonic() + 120
        while len(list(ready.glob("host-*"))) < len(started):
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                stop_all(started)
                raise SystemExit(f"light drones did not start; see {logs}/light-*.log")
            time.sleep(0.1)
    return started


def stop_all(processes: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _path() -> str:
    """This folder and the checkout on PYTHONPATH (the light drones import both)."""
    return os.pathsep.join(p for p in (str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(done: object, timeout: float, stack: LocalStack, hosts: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():  # type: ignore[operator]
            return
        if stack.dead():
            raise SystemExit(f"a worker died; see {stack.dead()[0].log}")
        if any(p.poll() is not None for p in hosts):
            raise SystemExit(f"a light drone host died; see {stack.logs}/light-*.log")
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout:.0f} s")
