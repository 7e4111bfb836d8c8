"""A private, real OpenSSH server on 127.0.0.1 for the fleet tests, with a test key and fake system commands.

The server's sessions get ``PATH=<tmp>/bin:/usr/bin:/bin`` (sshd ``SetEnv``), so the fake ``rc-service``,
``systemctl``, ``reboot`` and ``emerge`` a test writes there are the ones the fleet code runs; each fake
records its command line in ``calls``. The fixture checks that PATH before any test runs a command
(this machine has a real ``reboot``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swarm_celery.domain.fleet import DroneHost
from tests.conftest import unavailable

SSHD = "/usr/sbin/sshd"
RECORDER = '#!/bin/sh\necho "$(basename "$0") $*" >> {calls}\n'


@dataclass
class Sshd:
    root: Path
    port: int
    key: Path
    known_hosts: Path
    bin: Path
    calls: Path

    def host(self, name: str = "d1", **overrides: object) -> DroneHost:
        values: dict[str, object] = {"host": "127.0.0.1", "port": self.port, "user": "root", "key_file": str(self.key),
                                     "known_hosts": str(self.known_hosts), "reboot": str(self.bin / "reboot"),
                                     "pidfile": str(self.root / "worker.pid"), "build_dir": str(self.root),
                                     "pkgdir": str(self.root), "tree": str(self.root / "tree"),
                                     "sync_log": str(self.root / "log" / "sync.log")}
        return DroneHost(name=name, **(values | overrides))  # type: ignore[arg-type]

    def fake(self, command: str, script: str = "") -> Path:
        """Put a fake ``command`` on the sessions' PATH (by default one that records how it was called)."""
        path = self.bin / command
        path.write_text(script or RECORDER.format(calls=self.calls))
        path.chmod(0o755)
        return path

    def recorded(self) -> list[str]:
        return [line.rstrip() for line in self.calls.read_text().splitlines()] if self.calls.exists() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _config(root: Path, port: int, path: str) -> str:
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin yes",
        f"PidFile {root / 'sshd.pid'}", f"SetEnv PATH={path}", "LogLevel VERBOSE", "",
    ])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A real sshd on a free loopback port, accepting only a fresh test key, for user root."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        unavailable("OpenSSH server not installed (scripts/services.sh installs openssh-server)")
    if os.geteuid() != 0:
        unavailable("the sshd fixture logs in as the current user root; run the tests as root")
    root = tmp_path / "sshd"
    (root / "bin").mkdir(parents=True)
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    port = _free_port()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {(root / 'host_key.pub').read_text().split(' ')[0]} "
                                      f"{(root / 'host_key.pub').read_text().split(' ')[1]}\n")
    (root / "sshd_config").write_text(_config(root, port, f"{root / 'bin'}:/usr/bin:/bin"))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = root / "sshd.log"
    with log.open("wb") as out:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        kit = Sshd(root, port, root / "client_key", root / "known_hosts", root / "bin", root / "calls")
        _check_path(kit)
        yield kit
    finally:
        process.terminate()
        process.wait(timeout=10)


def _check_path(kit: Sshd) -> None:
    """The sessions must find the fakes first: never a real reboot or service restart on this machine."""
    from swarm_celery.fleet.ssh import FabricShell

    kit.fake("reboot")
    code, out, err = FabricShell(5).run(kit.host(), "command -v reboot", 10)
    assert (code, out.strip()) == (0, str(kit.bin / "reboot")), f"sshd sessions do not get the fake PATH: {out!r} {err!r}"
