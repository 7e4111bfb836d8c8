"""Choosing the demo's broker.

1. ``SWARM_BROKER_URL`` when set (checked reachable first);
2. else a private ``redis-server`` started by the demo when one is installed
   (loopback, free port, no persistence, stopped with the demo);
3. else kombu's ``filesystem://`` transport in ``SWARM_HOME/broker`` (no server at all;
   ~250-500 tasks/s, remote control works; a SIGKILLed worker loses its message).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from swarm_celery.errors import BrokerError


@dataclass
class LocalBroker:
    url: str
    kind: str  # "given", "redis-server", "filesystem"
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _dir: str | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


def check_redis(url: str, timeout: float = 3.0) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=timeout).ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise BrokerError(f"cannot reach the broker {url}: {exc}; start Redis or unset SWARM_BROKER_URL") from None


def choose_broker(broker_url: str, home: Path) -> LocalBroker:
    if broker_url:
        if broker_url.startswith(("redis://", "rediss://")):
            check_redis(broker_url)
        return LocalBroker(broker_url, "given")
    server = shutil.which("redis-server")
    if server:
        return start_redis(server)
    (home / "broker").mkdir(parents=True, exist_ok=True)
    return LocalBroker("filesystem://", "filesystem")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(server: str, wait: float = 10.0, port: int = 0) -> LocalBroker:
    """A private redis-server on loopback, nothing kept on disk (``port`` 0: a free one)."""
    workdir = tempfile.mkdtemp(prefix="swarm-redis-")
    port = port or _free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir,
            "--logfile", str(Path(workdir) / "redis.log")]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    broker = LocalBroker(url, "redis-server", process, workdir)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            return broker
        except (redis.RedisError, OSError):
            time.sleep(0.05)
    broker.stop()
    raise BrokerError(f"{server} did not start on port {port}; set SWARM_BROKER_URL to a running Redis")
