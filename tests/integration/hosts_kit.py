"""Drone hosts for the fleet tests: each a network namespace with its own address on a private bridge, its own root
directory (an overlay on a Debian bookworm with python3, OpenSSH and OpenRC, made once and cached) and its own sshd,
reached with a test key. OpenRC runs there for real (``rc-service``); a stub service provides ``net`` (the namespace's
network is up when the host exists). The root looks like a Gentoo drone where the golden spec looks: a profile link,
a synced tree, a world file, installed packages.

Everything a host runs is found by its root (``/proc/PID/root``) and ended by pid at the end; mounts, namespaces,
veths and the bridge are removed.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, unavailable
from tests.integration.deploy_kit import need
from tests.integration.docker_kit import CACHE, rootfs

CLEAN_ENV = ("env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8")  # nothing of this machine's environment
PACKAGES = ("python3", "python3-venv", "openssh-server", "openrc", "procps")
PROFILE = "default/linux/amd64/23.0"
NET_STUB = '#!/sbin/openrc-run\ndescription="the network namespace is configured"\ndepend() { provide net; }\nstart() { return 0; }\n'
OPENRC_STATE = ("started", "starting", "stopping", "inactive", "wasinactive", "exclusive", "failed", "scheduled", "hotplugged",
                "daemons", "options", "tmp")
INSTALLED = ("sys-apps/portage-3.0.83", "dev-lang/python-3.12.8", "net-misc/openssh-9.9", "sys-apps/openrc-0.56",
             *(f"virtual/filler{i}-1" for i in range(160)))


def host_rootfs() -> Path:
    """bookworm minbase + python3, venv, OpenSSH, OpenRC and ps, laid out like a drone where the audit looks; cached."""
    done = CACHE / "hosts-rootfs"
    if (done / "usr" / "sbin" / "openrc-run").exists():
        return done
    base = rootfs()  # made first: it makes the cache folder too (this test may be the first to need either)
    work = Path(tempfile.mkdtemp(prefix="hosts-rootfs-", dir=CACHE))
    subprocess.run(["cp", "-a", f"{base}/.", str(work)], check=True)
    (work / "usr" / "sbin" / "policy-rc.d").write_text("#!/bin/sh\nexit 101\n")  # no daemon starts while packages install
    (work / "usr" / "sbin" / "policy-rc.d").chmod(0o755)
    with _mounted(work):
        for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], ["apt-get", "clean"]):
            run = subprocess.run(["chroot", str(work), *CLEAN_ENV, "DEBIAN_FRONTEND=noninteractive", *args], capture_output=True, text=True,
                                 timeout=900, check=False)
            assert run.returncode == 0, f"{' '.join(args)} in the host root failed: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    _like_a_drone(work)
    work.rename(done)
    return done


def _like_a_drone(root: Path) -> None:
    for sysv in ("hwclock.sh", "procps", "ssh"):  # Debian's LSB scripts, which OpenRC would try to read
        (root / "etc" / "init.d" / sysv).unlink(missing_ok=True)
    (root / "etc" / "init.d" / "netns").write_text(NET_STUB)
    (root / "etc" / "init.d" / "netns").chmod(0o755)
    profiles = root / "var" / "db" / "repos" / "gentoo" / "profiles"
    for profile in (PROFILE, f"{PROFILE}/desktop"):
        (profiles / profile).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "portage").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "portage" / "make.profile").symlink_to(f"../../var/db/repos/gentoo/profiles/{PROFILE}")
    (root / "var" / "lib" / "portage").mkdir(parents=True, exist_ok=True)
    (root / "var" / "lib" / "portage" / "world").write_text("dev-lang/python\nnet-misc/openssh\n")
    for cpf in INSTALLED:
        (root / "var" / "db" / "pkg" / cpf).mkdir(parents=True)


@contextmanager
def _mounted(root: Path) -> Iterator[None]:
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(root / "dev")], check=False)
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)


def spec_for_hosts(path: Path) -> Path:
    """The golden spec these hosts are built to: the shipped one's layout, with what a Debian root with Gentoo's layout has."""
    path.write_text(f"""format = 1
[system]
profile = "{PROFILE}"
arch = "amd64"
max_tree_age_hours = 48
[build_swarm]
min_version = "0.1.0"
[packages]
world = ["dev-lang/python", "net-misc/openssh"]
forbidden = ["sys-devel/distcc", "dev-util/ccache", "*/*-9999"]
min_installed = 150
[commands]
required = ["python3", "sh", "tar", "ps", "sshd"]
[paths]
directories = ["/etc/portage", "/etc/build-swarm", "/opt/build-swarm/venv", "/var/lib/build-swarm", "/var/db/repos/gentoo"]
files = ["/etc/build-swarm/drone.conf", "/opt/build-swarm/venv/bin/build-swarm", "/var/db/repos/gentoo/metadata/timestamp.chk"]
[services]
enabled = ["build-swarm-drone"]
running = ["build-swarm-drone"]
[make_conf]
features = ["sandbox", "userpriv"]
""")
    tomllib.loads(path.read_text())
    return path


@dataclass
class Host:
    name: str
    address: str
    root: Path
    namespace: str

    def proc_roots(self) -> list[int]:
        """Every process running in this host's root."""
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            with suppress(OSError):
                if os.readlink(proc / "root") == str(self.root):
                    found.append(int(proc.name))
        return found


@dataclass
class Hosts:
    bridge: str
    gateway: str  # the bridge's address: the coordinator's, as the hosts reach it
    hosts: list[Host]
    key: Path
    known_hosts: Path

    def ssh(self, host: Host, command: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                               "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{host.address}", command],
                              capture_output=True, text=True, timeout=timeout, check=False, input=stdin)

    def inventory(self, path: Path) -> Path:
        path.write_text(f'# written by the test: drones are added by `build-swarm drone provision`\n[defaults]\nuser = "root"\n'
                        f'key_file = "{self.key}"\nknown_hosts = "{self.known_hosts}"\n')
        return path


def _free_subnet() -> int:
    """A third octet of 10.200.X.0/24 no interface here uses (other tests may have their own bridges)."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    return next(x for x in range(140, 250) if f" 10.200.{x}." not in used)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def hosts(base: Path, names: list[str]) -> Iterator[Hosts]:
    """``names`` as hosts on a fresh bridge, each with its sshd running; everything removed at the end."""
    if os.geteuid() != 0:
        unavailable("hosts in network namespaces need root")
    for tool in ("ip", "chroot", "ssh", "ssh-keygen"):
        need(tool, "iproute2 / coreutils / openssh-client")
    lower = host_rootfs()
    subnet = _free_subnet()
    bridge, gateway = f"bsd{subnet}", f"10.200.{subnet}.1"
    made: list[Host] = []
    _ip("link", "add", bridge, "type", "bridge")
    try:
        _ip("addr", "add", f"{gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        base.mkdir(parents=True, exist_ok=True)
        key, known = base / "fleet_key", base / "known_hosts"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        for index, name in enumerate(names):
            host = Host(name, f"10.200.{subnet}.{index + 2}", base / name / "root", f"{bridge}-{name}")
            made.append(host)  # removed at the end however far its setup got
            _host(host, lower, bridge, key, known)
        yield Hosts(bridge, gateway, made, key, known)
    finally:
        for host in made:
            _remove(host)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


def _host(host: Host, lower: Path, bridge: str, key: Path, known: Path) -> None:
    where, root = host.root.parent, host.root
    for sub in ("upper", "work", "root"):
        (where / sub).mkdir(parents=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={where / 'upper'},workdir={where / 'work'}",
                    str(root)], check=True)
    for fs, target, options in (("proc", "proc", []), ("/dev", "dev", ["--bind"]), ("tmpfs", "run", ["-t", "tmpfs"])):
        subprocess.run(["mount", *(options or ["-t", fs]), fs, str(root / target)], check=True)
    _network(host, bridge)
    for state in OPENRC_STATE:
        (root / "run" / "openrc" / state).mkdir(parents=True)
    (root / "run" / "openrc" / "softlevel").write_text("default\n")
    (root / "run" / "sshd").mkdir()
    tree = root / "var" / "db" / "repos" / "gentoo" / "metadata"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "timestamp.chk").write_text(email.utils.formatdate(time.time() - 3600) + "\n")
    _sshd(host, key, known)


def _veth(host: Host) -> str:
    return f"v{hashlib.sha1(host.namespace.encode()).hexdigest()[:10]}"


def _network(host: Host, bridge: str) -> None:
    veth = _veth(host)
    _ip("netns", "add", host.namespace)
    _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
    _ip("link", "set", veth, "master", bridge, "up")
    _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
    _ip("-n", host.namespace, "link", "set", "eth0", "up")
    _ip("-n", host.namespace, "link", "set", "lo", "up")


def _sshd(host: Host, key: Path, known: Path) -> None:
    ssh = host.root / "etc" / "ssh"
    for old in ssh.glob("ssh_host_*"):
        old.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "ssh_host_ed25519_key")], check=True)
    (host.root / "root" / ".ssh").mkdir(mode=0o700, exist_ok=True)
    shutil.copy(f"{key}.pub", host.root / "root" / ".ssh" / "authorized_keys")
    (ssh / "sshd_config").write_text("\n".join([
        f"ListenAddress {host.address}", "HostKey /etc/ssh/ssh_host_ed25519_key", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
        "PidFile /run/sshd.pid", "Subsystem sftp internal-sftp", "",
    ]))
    public = (ssh / "ssh_host_ed25519_key.pub").read_text().split()
    with known.open("a") as f:
        f.write(f"{host.address} {public[0]} {public[1]}\n")
    started = subprocess.run(["ip", "netns", "exec", host.namespace, "chroot", str(host.root), *CLEAN_ENV, "/usr/sbin/sshd"], capture_output=True,
                             text=True, timeout=30, check=False)
    assert started.returncode == 0, f"sshd on {host.name}: {started.stderr}"


def _remove(host: Host) -> None:
    for _ in range(3):  # supervise-daemon respawns what it watches: the supervisors go first, then the rest
        pids = host.proc_roots()
        if not pids:
            break
        for pid in sorted(pids, key=lambda p: b"supervise-daemon" not in _cmdline(p)):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    for target in ("run", "dev", "proc", ""):
        subprocess.run(["umount", "-l", str(host.root / target)], check=False, capture_output=True)
    # the pair goes with its host side now (a namespace can outlive its name while the kernel still holds its sockets)
    subprocess.run(["ip", "link", "del", _veth(host)], check=False, capture_output=True)
    subprocess.run(["ip", "netns", "del", host.namespace], check=False, capture_output=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wheelhouse() -> Path:
    """Every wheel build-swarm depends on (its own is built by provisioning), resolved by the hosts' own python3 (markers
    like ``python_full_version < "3.11.3"`` differ from this venv's): hosts install from it alone (no package index)."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    done = CACHE / f"wheelhouse-{key}"
    if done.is_dir():
        return done
    root = host_rootfs()
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    shutil.rmtree(root / "tmp" / "wheelhouse", ignore_errors=True)
    with _mounted(root):
        for args in (["python3", "-m", "venv", "/tmp/wheelhouse/venv"],
                     ["/tmp/wheelhouse/venv/bin/pip", "wheel", "--quiet", "--disable-pip-version-check", "-w", "/tmp/wheelhouse/wheels",
                      *dependencies]):
            run = subprocess.run(["chroot", str(root), *CLEAN_ENV, "PIP_CERT=/usr/local/share/host-ca-bundle.pem", *args], capture_output=True,
                                 text=True, timeout=1200, check=False)
            assert run.returncode == 0, f"{args[0]} in the host root failed: {run.stderr[-2000:]}"
    shutil.move(root / "tmp" / "wheelhouse" / "wheels", done)
    shutil.rmtree(root / "tmp" / "wheelhouse")
    return done
