"""How `build-swarm flower` starts Flower: its command line and its authentication, decided from the settings. Pure.

Flower reads its own ``FLOWER_*`` variables too (they win over what is decided here, as they
do for ``celery flower``). Secrets never go on the command line (``ps`` shows it): the admin
token becomes Flower's basic-auth password through Flower's own option object, in the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FLOWER_USER = "admin"  # the user name of Flower's basic auth when its password is the admin token
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_TASKS = 10_000  # tasks Flower remembers (about 5 KB each; its own default of 100,000 is half a gigabyte)
SAVE_EVERY_MS = 60_000  # Flower saves its state this often (and when stopped)


@dataclass(frozen=True)
class FlowerRequest:
    port: int | None = None  # None: FLOWER_PORT, else Flower's 5555
    address: str | None = None  # None: FLOWER_ADDRESS, else 127.0.0.1
    url_prefix: str = ""  # behind a reverse proxy at https://host/<prefix>/
    persistent: bool = True
    db: str = ""  # Flower's state file (persistent)


@dataclass(frozen=True)
class FlowerPlan:
    argv: tuple[str, ...]  # after `flower`
    basic_auth: str  # "user:password" to set in Flower's options ("" when Flower's own variables say how)
    address: str
    port: int
    url_prefix: str

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/{self.url_prefix + '/' if self.url_prefix else ''}"


def plan_flower(request: FlowerRequest, environ: Mapping[str, str], admin_token: str) -> FlowerPlan:
    """Flower's arguments; ValueError (what to set) when it would serve the swarm to the network without authentication."""
    address = request.address or environ.get("FLOWER_ADDRESS") or "127.0.0.1"
    port = request.port or int(environ.get("FLOWER_PORT") or 5555)
    prefix = (request.url_prefix or environ.get("FLOWER_URL_PREFIX", "")).strip("/")
    own_auth = bool(environ.get("FLOWER_BASIC_AUTH") or environ.get("FLOWER_AUTH"))
    basic = "" if own_auth or not admin_token else f"{FLOWER_USER}:{admin_token}"
    if not (own_auth or basic) and address not in LOOPBACK:
        raise ValueError(f"Flower on {address} needs authentication: set SWARM_API_TOKEN (user {FLOWER_USER}, the token as "
                         "password) or FLOWER_BASIC_AUTH=user:password, or listen on 127.0.0.1")
    argv = [f"--address={address}", f"--port={port}"]
    if prefix:
        argv.append(f"--url_prefix={prefix}")
    if request.persistent and "FLOWER_PERSISTENT" not in environ:
        argv += ["--persistent=True", f"--db={environ.get('FLOWER_DB') or request.db}"]
        if "FLOWER_STATE_SAVE_INTERVAL" not in environ:
            argv.append(f"--state_save_interval={SAVE_EVERY_MS}")
    if "FLOWER_MAX_TASKS" not in environ:
        argv.append(f"--max_tasks={MAX_TASKS}")
    return FlowerPlan(tuple(argv), basic, address, port, prefix)
