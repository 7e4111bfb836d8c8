"""A whole swarm on this machine, building for real: Redis, a coordinator worker, beat, the API (uploads, the binhost,
the plans' configurations), signing on, and prefix drones laid out by `build-swarm prefix init`, each its own EPREFIX.

Everything is the product's own: the drones' prefixes come from ``build-swarm prefix init`` (which trusts the signing
key the binhost serves), the drones are ``build-swarm worker --role drone`` processes with ``SWARM_EMERGE_PREFIX``,
sessions come from ``build-swarm profile create/sync``. The only stand-in is the distfile mirror: each prefix's
DISTDIR gets the overlay's tarballs (no internet here), as a mirror would deliver them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from swarm_celery import bootstrap
from swarm_celery.local.stack import LocalStack
from swarm_celery.settings import Settings
from swarm_celery.store.queries import Queries
from tests.realbuild import kit

ADMIN = "live-admin-token"
REDIS_DB = 6  # its own database: the simulated live-swarm tests use 7


@dataclass
class Live:
    base: Path
    overlay: Path
    key: kit.SigningKey
    settings: Settings  # the coordinator's
    env: dict[str, str]  # what `build-swarm` runs with on the coordinator host
    stack: LocalStack
    api: str  # the coordinator API's URL
    drones: dict[str, Path] = field(default_factory=dict)  # name → its EPREFIX
    homes: dict[str, Path] = field(default_factory=dict)  # name → its SWARM_HOME

    @property
    def queries(self) -> Queries:
        return Queries(bootstrap.engine(self.settings))

    @property
    def binhost(self) -> str:
        return f"{self.api}/binhost"

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        run = subprocess.run([sys.executable, "-m", "swarm_celery", *args], env=env or self.env, capture_output=True, text=True,
                             timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        if run.returncode != 0:
            raise AssertionError(f"build-swarm {' '.join(args)} exited {run.returncode}:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        return run.stdout

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            dead = self.stack.dead()
            assert not dead, f"worker died: {[(w.name, w.log.read_text()[-3000:]) for w in dead]}"
            time.sleep(0.2)
        logs = {w.name: w.log.read_text()[-2000:] for w in self.stack.workers}
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; logs: {logs}")

    def add_drone(self, name: str) -> None:
        """`build-swarm prefix init` (trusting the binhost's key), a token, and the drone worker with SWARM_EMERGE_PREFIX."""
        eprefix = kit.padded(self.base / name)
        self.cli("prefix", "init", str(eprefix), "--repo", str(self.overlay), "--profile", kit.PROFILE, "--binhost", self.binhost,
                 "--fingerprint", self.key.fingerprint, "--make-conf", 'GENTOO_MIRRORS=""')
        for tarball in kit.distdir(self.overlay).iterdir():  # the distfile mirror's part
            shutil.copyfile(tarball, eprefix / "var" / "cache" / "distfiles" / tarball.name)
        token = bootstrap.drone_tokens(self.settings).issue(name)
        home = self.base / f"{name}-home"
        self.stack.start(name, "drone", {
            "SWARM_DRONE_NAME": name, "SWARM_HOME": str(home), "SWARM_EMERGE_PREFIX": str(eprefix), "SWARM_DRONE_TOKEN": token,
            "SWARM_COORDINATOR_URL": self.api, "SWARM_BINHOST_URL": f"{self.binhost}/amd64", "SWARM_EMERGE": str(kit.EMERGE),
            "SWARM_SLOTS": "1", "SWARM_MIN_FREE_MB": "16", "SWARM_TREE": str(self.overlay), "SWARM_BUILD_TIMEOUT": "600"})
        self.drones[name], self.homes[name] = eprefix, home

    def online(self) -> set[str]:
        return {d.name for d in self.queries.fleet() if d.state == "online"}

    def session_state(self, session: str) -> str:
        found = self.queries.session(session)
        return found.state if found else "missing"

    def drone_log(self, name: str, attempt: str) -> str:
        """The build log as the drone wrote it (the coordinator has the uploaded copy under logs/builds too)."""
        return (self.homes[name] / "logs" / "builds" / f"{attempt}.log").read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_swarm(redis_base: str) -> Iterator[Live]:
    base = Path(tempfile.mkdtemp(prefix="lv", dir="/tmp"))  # short: gpg-agent sockets live under each prefix's gnupg
    base.chmod(0o755)  # portage verifies signatures as nobody: every prefix's gnupg must be reachable
    key = kit.make_signing_key(base / "k")
    stack: LocalStack | None = None
    api: subprocess.Popen[bytes] | None = None
    try:
        overlay = kit.make_overlay(base / "overlay")
        url = redis_base.rsplit("/", 1)[0] + f"/{REDIS_DB}"
        redis.Redis.from_url(url).flushdb()
        port = free_port()
        env = {"PATH": f"{kit.VENV_BIN}:{kit.BASE_PATH}", "HOME": str(base), "LANG": "C.UTF-8", "SWARM_HOME": str(base / "home"),
               "SWARM_BROKER_URL": url, "SWARM_BUILDER": "emerge", "SWARM_SIGNING_KEY": key.fingerprint, "SWARM_GPG_HOME": str(key.home),
               "SWARM_API_TOKEN": ADMIN, "SWARM_API_PORT": str(port), "SWARM_HEARTBEAT": "2", "SWARM_RECLAIM_EVERY": "5",
               "SWARM_RETRY_BACKOFF": "2", "SWARM_TREE": str(overlay), "SWARM_TREE_CHECK_EVERY": "3600", "SWARM_PROBE_EVERY": "3600",
               "PYTHONPATH": str(kit.HERE.parents[1])}
        settings = Settings.from_env(env)
        stack = LocalStack(env=env, logs=settings.logs_dir)
        stack.start("coordinator", "coordinator")
        stack.start("beat", "beat")
        logs = settings.logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "api.log").open("wb") as out:
            api = subprocess.Popen([sys.executable, "-m", "swarm_celery", "api"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        live = Live(base, overlay, key, settings, env, stack, f"http://127.0.0.1:{port}")
        live.wait(lambda: _answers(live.api) and (settings.binhost_dir / "build-swarm-signing-key.asc").is_file(), 60,
                  "the API and the published signing key")
        yield live
    finally:
        if stack is not None:
            stack.stop(grace=10)
        if api is not None:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(timeout=30)
        key.stop_agent()
        for gnupg in base.glob("*/etc/portage/gnupg"):
            subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"], capture_output=True, check=False)
        if os.environ.get("SWARM_LIVE_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)


def profile_json(live: Live, *args: str) -> dict[str, object]:
    return dict(json.loads(live.cli("profile", *args, "--json")))
