"""What the binhost serves, as a client sees it: whether its packages are signed, and by which key.

``build-swarm binhost client-config`` describes the binhost from this, not from the settings of the
shell it runs in: the coordinator that signs may have ``SWARM_SIGNING_KEY`` while the operator's
shell does not. The served public key (``build-swarm-signing-key.asc`` beside the arch trees,
written by ``binhost.publisher``) is read from the local binhost when there is one, else fetched
from the binhost's URL; the newest package of the arch's index says whether signing is still on.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.publisher import SIGNING_KEY_FILE

_MAX_KEY = 1 << 20


@dataclass(frozen=True)
class Served:
    signed: bool
    fingerprint: str = ""
    why: str = ""  # how it was found out, for the operator


def served_signing(binhost_dir: Path, arch: str, base_url: str, gpg: str = "gpg") -> Served:
    """Whether the binhost at ``binhost_dir`` (this host's), else at ``base_url``, serves signed packages for ``arch``."""
    key_file = binhost_dir / SIGNING_KEY_FILE
    if key_file.is_file():
        key, where = key_file.read_bytes()[:_MAX_KEY], str(key_file)
    elif (binhost_dir / arch).is_dir():
        return Served(False, why=f"{binhost_dir} serves no signing key")
    else:
        key, where = _fetch(f"{base_url}/{SIGNING_KEY_FILE}"), f"{base_url}/{SIGNING_KEY_FILE}"
        if not key:
            return Served(False, why=f"{where} could not be fetched")
    fingerprint = key_fingerprint(key, gpg)
    if not fingerprint:
        return Served(False, why=f"{where} holds no public key")
    newest = _newest_package(binhost_dir / arch)
    if newest is not None and not _is_signed(newest):
        return Served(False, fingerprint, f"{newest.name}, the newest package, is not signed (the coordinator signs no more?)")
    return Served(True, fingerprint, f"the key served at {where}")


def key_fingerprint(armored: bytes, gpg: str = "gpg") -> str:
    """The fingerprint of the (first) public key in ``armored``, read by gpg without touching any keyring ("" if none)."""
    with tempfile.TemporaryDirectory(prefix="bs-gpg") as home:
        run = subprocess.run([gpg, "--homedir", home, "--batch", "--no-tty", "--with-colons", "--show-keys"], input=armored,
                             capture_output=True, check=False)
    fprs = [line.split(":")[9] for line in run.stdout.decode(errors="replace").splitlines() if line.startswith("fpr:")]
    return fprs[0] if run.returncode == 0 and fprs else ""


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # the operator's own binhost URL
            return bytes(answer.read(_MAX_KEY))
    except (OSError, ValueError):
        return b""


def _newest_package(tree: Path) -> Path | None:
    index = tree / "Packages"
    if not index.is_file():
        return None
    entries = [e for e in parse_index(index.read_text(encoding="utf-8"))[1] if e.path]
    if not entries:
        return None
    newest = max(entries, key=lambda e: (e.mtime, e.build_time))
    return tree / newest.path


def _is_signed(package: Path) -> bool:
    try:
        with tarfile.open(package, "r:") as container:
            return any(name.endswith(".sig") for name in container.getnames())
    except (tarfile.TarError, OSError):
        return True  # unreadable here: the key being served is what is known
