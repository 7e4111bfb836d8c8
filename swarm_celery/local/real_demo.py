"""``build-swarm demo --builder emerge``: the shipped overlay built for real on this machine.

Everything a real swarm has, on one host: the coordinator worker, beat, the API (drones upload their packages
and fetch each plan's configuration over HTTP; emerge fetches dependencies from its ``/binhost``), and N drones,
each building with real ``emerge`` in its own portage prefix laid out by ``build-swarm prefix init``
(``SWARM_HOME/prefixes/drone-NN``: equal-length paths, so binaries relocate between them). The host's gcc and
make compile; portage comes with the package. The world is the overlay's ``swarm-test/greetings``: six packages,
a shared library, a build-time code generator, programs linked to both.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from swarm_celery import bootstrap
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.errors import SwarmError, UserError
from swarm_celery.local import overlay
from swarm_celery.local.stack import LocalStack
from swarm_celery.resolve.inputs import build_request
from swarm_celery.settings import Settings

TOOLS = {"gcc": "gcc", "make": "make", "tar": "tar", "gzip": "gzip"}  # what the builds run → the Debian package with it


def missing_tools() -> list[str]:
    """What the real demo needs from the host and cannot find on PATH (portage's own programs come with the package)."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if shutil.which("emerge") is None and not Path(sys.executable).with_name("emerge").is_file():
        missing.append("emerge")
    return missing


def check_tools() -> None:
    missing = missing_tools()
    if missing:
        debian = " ".join(sorted({TOOLS.get(m, "") for m in missing} - {""}))
        raise UserError(f"the real demo compiles C programs with the host's toolchain, and {', '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} missing: install "
                        + (f"them (Debian: apt-get install {debian})" if debian else "portage (pip install portage)")
                        + ", or run the simulated demo (without --builder emerge)")


def emerge_program() -> str:
    found = Path(sys.executable).with_name("emerge")
    return str(found) if found.is_file() else str(shutil.which("emerge"))


def real_request(settings: Settings) -> tuple[ResolveRequest, str]:
    """A fresh copy of the shipped overlay (tarballs, Manifests) and the plan's configuration: accept its licenses."""
    base = settings.home / "realbuild"
    shutil.rmtree(base, ignore_errors=True)
    tree = overlay.make_overlay(base / "overlay", emerge_program())
    config = base / "portage-config"
    config.mkdir()
    (config / "make.conf").write_text(overlay.ACCEPT_LICENSE)
    request = build_request([tree], overlay.PROFILE, "amd64", overlay.WORLD, config)
    return request, f"the shipped overlay ::{overlay.REPO_NAME} ({tree})"


def real_settings(settings: Settings) -> Settings:
    """The swarm builds for real; drones reach the coordinator's API on a free port with a token of this run."""
    return settings.with_(builder="emerge", api_port=_free_port(), api_host="127.0.0.1", api_token=secrets.token_hex(16),
                          emerge=emerge_program(), min_free_mb=min(settings.min_free_mb, 256))


def start_real(stack: LocalStack, settings: Settings, drones: int) -> None:
    """The API (then its signing key, if any, is served), and ``drones`` prefix drones."""
    stack.start("api", "api")
    api = f"http://{settings.api_host}:{settings.api_port}"
    _wait_for(lambda: _answers(api), 60, f"the coordinator API at {api} (see {settings.logs_dir / 'api.log'})")
    key = settings.binhost_dir / bootstrap.signing_key_file()
    if settings.signing_key:
        _wait_for(key.is_file, 60, f"the signing key at {key} (see {settings.logs_dir / 'coordinator.log'})")
    tree = settings.home / "realbuild" / "overlay"
    for i in range(1, drones + 1):
        name = f"drone-{i}"
        root = settings.home / "prefixes" / f"drone-{i:02d}"  # the same length for every drone: binaries relocate
        shutil.rmtree(root, ignore_errors=True)
        bootstrap.init_prefix(root, [tree], overlay.PROFILE, binhost=f"{api}/binhost" if settings.signing_key else "",
                              make_conf=['GENTOO_MIRRORS=""'])
        for tarball in overlay.distdir(tree).iterdir():  # no mirror has the overlay's sources: the demo is the mirror
            shutil.copyfile(tarball, root / "var" / "cache" / "distfiles" / tarball.name)
        token = bootstrap.drone_tokens(settings).issue(name)
        stack.start(name, "drone", {"SWARM_DRONE_NAME": name, "SWARM_EMERGE_PREFIX": str(root), "SWARM_COORDINATOR_URL": api,
                                    "SWARM_DRONE_TOKEN": token, "SWARM_BINHOST_URL": f"{api}/binhost/amd64",
                                    "SWARM_HOME": str(settings.home / "drones" / name), "SWARM_TREE": str(tree), "SWARM_SLOTS": "1"})


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SwarmError(f"the real demo gave up waiting for {what}")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


__all__ = ["check_tools", "missing_tools", "real_request", "real_settings", "start_real"]
