"""Running the deploy/ files for real: OpenRC services under ``openrc-run --nodeps``, a private Redis, and a sweep
that finds (and, at the end, kills) every process a test started.

OpenRC keeps its state in /run/openrc whatever the script's path, so the services are copied under their real
names into a temporary ``init.d/`` next to a ``conf.d/`` that ``openrc-run`` reads (it looks in ``../conf.d``).
The temporary root is made with mode 0755 under /tmp, because a service running as ``nobody`` must reach it.
A process is the test's when its argv or environment names that root: every service's log (in supervise-daemon's
argv), ``SWARM_HOME`` (exported to the coordinator's processes) or ``--config`` (a drone's argv) lives there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, unavailable

DEPLOY = ROOT / "deploy"
INSTALLED_BIN = "/opt/build-swarm/venv/bin/build-swarm"  # the install layout of deploy/README.md
VENV_BIN = Path(sys.executable).parent / "build-swarm"  # this checkout's, in the test venv
OPENRC_STATE = Path("/run/openrc")


def need(tool: str, package: str) -> str:
    """The path of ``tool``, or the test fails under CI / skips elsewhere, naming the Debian package to install."""
    found = shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None)
    if found is None:
        unavailable(f"{tool} is not installed (scripts/services.sh installs Debian's {package})")
        raise AssertionError("unreachable")  # unavailable() always raises
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def ours(root: Path) -> list[int]:
    """The pids of live processes whose argv or environment names ``root``."""
    mark = str(root).encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            if int(proc.name) != os.getpid() and (mark in (proc / "cmdline").read_bytes() or mark in (proc / "environ").read_bytes()):
                found.append(int(proc.name))
    return found


def kill_ours(root: Path) -> None:
    """SIGKILL every process of the test: the supervisors first, so none is respawned."""
    for pid in sorted(ours(root), key=lambda p: b"supervise-daemon" not in _cmdline(p)):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass
class OpenRc:
    """Services copied into ``root/init.d`` with their conf.d in ``root/conf.d``; stopped and zapped at the end."""

    root: Path
    started: list[Path] = field(default_factory=list)

    def install(self, name: str, conf: dict[str, str], as_name: str = "") -> Path:
        """``deploy/openrc/init.d/NAME`` (as a symlink ``as_name`` to it, the multi-instance way, when given),
        with ``conf`` appended to a copy of its conf.d file."""
        (self.root / "init.d").mkdir(exist_ok=True)
        (self.root / "conf.d").mkdir(exist_ok=True)
        script = self.root / "init.d" / name
        shutil.copy(DEPLOY / "openrc" / "init.d" / name, script)
        lines = "".join(f'{key}="{value}"\n' for key, value in conf.items())
        (self.root / "conf.d" / name).write_text((DEPLOY / "openrc" / "conf.d" / name).read_text() + lines)
        if as_name:
            (self.root / "init.d" / as_name).symlink_to(name)
            script = self.root / "init.d" / as_name
        self.run(script, "zap")  # a state left by an earlier run that died
        return script

    def run(self, script: Path, action: str) -> subprocess.CompletedProcess[str]:
        if action == "start":
            self.started.append(script)
        return subprocess.run(["openrc-run", str(script), "--nodeps", action], check=False, capture_output=True, text=True, timeout=120)

    def value(self, script: Path, key: str) -> str:
        """What supervise-daemon recorded for the service (child_pid, start_count, ...)."""
        try:
            return (OPENRC_STATE / "options" / script.name / key).read_text().strip()
        except OSError:
            return ""

    def close(self) -> None:
        for script in reversed(self.started):
            self.run(script, "stop")
            self.run(script, "zap")


@contextmanager
def openrc_root() -> Iterator[OpenRc]:
    """A world-readable temporary root for services, every process in it killed and every service zapped at the end."""
    need("openrc-run", "openrc")
    need("supervise-daemon", "openrc")
    if os.geteuid() != 0:
        unavailable("openrc-run starts services as root; run the tests as root")
    OPENRC_STATE.mkdir(parents=True, exist_ok=True)
    (OPENRC_STATE / "softlevel").touch()
    root = Path(tempfile.mkdtemp(prefix="bsw-deploy-"))
    root.chmod(0o755)
    rc = OpenRc(root)
    try:
        yield rc
    finally:
        try:
            rc.close()
        finally:
            kill_ours(root)
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_redis(root: Path) -> Iterator[str]:
    """A redis-server of its own on a free loopback port, nothing kept on disk."""
    server = need("redis-server", "redis-server")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port), 10, f"redis-server on port {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False
