"""A private Docker engine and a Debian base image made here, for the compose test (no image registry is reachable).

The engine keeps its images under ``.cache/deploy/engine`` (one engine at a time: a lock), so a second run reuses the
built images; its sockets and state live under a short directory in /run. The base image is Debian bookworm made with
``debootstrap --variant=minbase`` (cached as a directory under ``.cache/deploy/rootfs``) with this machine's apt
configuration and CA bundle (``PIP_CERT``), since package downloads here go through an intercepting proxy.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, unavailable
from tests.integration.deploy_kit import need

CACHE = ROOT / ".cache" / "deploy"
BASE_IMAGE = "build-swarm-test-base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA = "/usr/local/share/host-ca-bundle.pem"


@dataclass
class Engine:
    socket: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and run.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {run.returncode}: {run.stderr[-2000:]}")
        return run


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (its sources), for debootstrap."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = path.read_text() if path.is_file() else ""
        found = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M)
        if found and "security" not in found[1]:
            return found[1]
    unavailable("no Debian mirror in this machine's apt sources for debootstrap")
    raise AssertionError("unreachable")


def rootfs() -> Path:
    """Debian bookworm minbase with this machine's apt configuration and CA bundle; made once, then cached."""
    done = CACHE / "rootfs"
    if (done / "etc" / "debian_version").is_file():
        return done
    debootstrap = need("debootstrap", "debootstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    run = subprocess.run([debootstrap, "--variant=minbase", "bookworm", str(work), debian_mirror()], capture_output=True, text=True,
                         timeout=900, check=False)
    assert run.returncode == 0, f"debootstrap failed: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    for conf in Path("/etc/apt/apt.conf.d").glob("99*"):  # how apt reaches the mirror here (e.g. no Valid-Until check)
        shutil.copy(conf, work / "etc" / "apt" / "apt.conf.d" / conf.name)
    (work / IMAGE_CA.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HOST_CA, work / IMAGE_CA.lstrip("/"))
    work.rename(done)
    return done


@contextmanager
def engine() -> Iterator[Engine]:
    """A private dockerd (overlay2, no iptables, no default bridge), stopped at the end."""
    dockerd = need("dockerd", "docker.io")
    need("docker", "docker.io")
    if os.geteuid() != 0:
        unavailable("a Docker engine needs root")
    data = CACHE / "engine"
    data.mkdir(parents=True, exist_ok=True)
    with (data / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = Path(tempfile.mkdtemp(prefix="bsd-", dir="/run"))
        socket = run / "docker.sock"
        log = (data / "dockerd.log").open("ab")
        process = subprocess.Popen([dockerd, f"--data-root={data / 'data'}", f"--exec-root={run / 'exec'}", f"--pidfile={run / 'pid'}",
                                    "-H", f"unix://{socket}", "--storage-driver=overlay2", "--iptables=false", "--ip-masq=false",
                                    "--bridge=none"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            it = Engine(str(socket))
            _wait_ready(it, process, data / "dockerd.log")
            yield it
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _unmount_under(run)
            shutil.rmtree(run, ignore_errors=True)


def _wait_ready(it: Engine, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the engine answers; when it cannot start here (no privileges for namespaces, no overlayfs), the test is
    skipped, or fails under CI, with dockerd's own last words."""
    deadline = time.monotonic() + 60
    while it.docker("info", check=False, timeout=30).returncode != 0:
        if process.poll() is not None:
            unavailable(f"a Docker engine cannot be started here: dockerd exited {process.returncode}: {log.read_text()[-600:]}")
        if time.monotonic() > deadline:
            unavailable(f"dockerd did not answer within 60 s: {log.read_text()[-600:]}")
        time.sleep(0.2)


def _unmount_under(path: Path) -> None:
    """What the engine leaves mounted under its exec-root (the nsfs of its network namespaces)."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if line.split()[1].startswith(str(path))]
    for mount in sorted(mounts, reverse=True):
        with suppress(subprocess.SubprocessError):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30, check=False)


def base_image(it: Engine) -> str:
    """The Debian base every image of the stack is built on here (the compose file's BASE_IMAGE)."""
    if it.docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    tree = rootfs()
    tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["docker", "import", "--change", f"ENV PIP_CERT={IMAGE_CA}", "-", BASE_IMAGE], stdin=tar.stdout,
                              env=it.env, capture_output=True, text=True, timeout=300, check=False)
    tar.wait()
    assert imported.returncode == 0, f"docker import failed: {imported.stderr[-2000:]}"
    return BASE_IMAGE
