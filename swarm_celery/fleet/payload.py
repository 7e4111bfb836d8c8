"""The payload the coordinator pushes to drones, read from its wheelhouse (SWARM_WHEELHOUSE).

The wheelhouse holds build-swarm's wheels and, when drones have no package index to install from, every wheel they
depend on (``pip download`` into it): then it is *complete* and drones install from it alone. A checkout of build-swarm
builds its own wheel into the wheelhouse when the one there is missing or holds other code.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from swarm_celery.domain.payload import FILE_NAME, Payload, Wheel, payload_digest, wheel_version
from swarm_celery.errors import ConfigError


def wheel_digest(path: Path) -> str:
    """The payload digest of a build-swarm wheel's files."""
    try:
        with zipfile.ZipFile(path) as wheel:
            return payload_digest((name, wheel.read(name)) for name in wheel.namelist() if not name.endswith("/"))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path} is not a readable wheel ({exc}): build it again (pip wheel --no-deps .)") from None


def load_payload(wheelhouse: Path, version: str, digest: str, wheel: Path | None = None, checkout: Path | None = None) -> Payload:
    """``wheel`` (copied into the wheelhouse), else the wheelhouse's wheel of ``version`` with ``digest`` (built from
    ``checkout`` when it is missing or stale), and every other wheel of the wheelhouse but other build-swarm versions."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    chosen = _adopt(wheel, wheelhouse) if wheel is not None else _own(wheelhouse, version, digest, checkout)
    others = [p for p in sorted(wheelhouse.glob("*.whl")) if wheel_version(p.name) is None and FILE_NAME.fullmatch(p.name)]
    files = [chosen, *others]
    return Payload(version=wheel_version(chosen.name) or "", digest=wheel_digest(chosen), wheel=chosen.name,
                   wheels=tuple(Wheel(p.name, _sha256(p)) for p in files), complete=bool(others))


def _adopt(wheel: Path, wheelhouse: Path) -> Path:
    if not wheel.is_file() or wheel_version(wheel.name) is None:
        raise ConfigError(f"{wheel} is not a build-swarm wheel (swarm_celery-VERSION-py3-none-any.whl)")
    target = wheelhouse / wheel.name
    if wheel.resolve() != target.resolve():
        shutil.copyfile(wheel, target)
    return target


def _own(wheelhouse: Path, version: str, digest: str, checkout: Path | None) -> Path:
    current = _current(wheelhouse, version, digest)
    if current is not None or checkout is None:
        return current or _own_locked(wheelhouse, version, digest, None)
    with (wheelhouse / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two provisionings at once build the wheel once, one after the other
        return _own_locked(wheelhouse, version, digest, checkout)


def _current(wheelhouse: Path, version: str, digest: str) -> Path | None:
    return next((p for p in sorted(wheelhouse.glob("*.whl")) if wheel_version(p.name) == version and wheel_digest(p) == digest), None)


def _own_locked(wheelhouse: Path, version: str, digest: str, checkout: Path | None) -> Path:
    found = [p for p in sorted(wheelhouse.glob("*.whl")) if wheel_version(p.name) == version]
    current = _current(wheelhouse, version, digest)
    if current is not None:
        return current
    if checkout is None:
        if found:
            return found[0]
        raise ConfigError(f"no wheel of build-swarm {version} in {wheelhouse}: copy it there (the one this coordinator was "
                          "installed from), or name one with --wheel")
    for stale in found:
        stale.unlink()
    return _build(checkout, wheelhouse, version)


def _build(checkout: Path, wheelhouse: Path, version: str) -> Path:
    """``pip wheel`` of this checkout into the wheelhouse."""
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w",
                          str(wheelhouse), str(checkout)], capture_output=True, text=True, timeout=600, check=False)
    built = [p for p in wheelhouse.glob("*.whl") if wheel_version(p.name) == version]
    if run.returncode != 0 or not built:
        raise ConfigError(f"could not build the wheel of {checkout}: {(run.stderr or run.stdout).strip()[-300:]}")
    return built[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
