"""Settings: one frozen, keyword-only dataclass read from ``SWARM_*`` variables at entry points only.

Nothing reads the environment at import time; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from swarm_celery.errors import ConfigError

DEFAULT_HOME = Path.home() / ".local" / "share" / "build-swarm"


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: Path = DEFAULT_HOME  # SWARM_HOME: binhost, staging, logs, caches, the SQLite database
    database_url: str = ""  # SWARM_DATABASE_URL; default sqlite:///<home>/swarm.db
    broker_url: str = ""  # SWARM_BROKER_URL; required by workers, chosen by `demo` when unset
    api_token: str = ""  # SWARM_API_TOKEN
    binhost_url: str = ""  # SWARM_BINHOST_URL
    drone_name: str = ""  # SWARM_DRONE_NAME; default: the host name
    arch: str = "amd64"  # SWARM_ARCH
    builder: str = "simulate"  # SWARM_BUILDER: simulate | emerge
    time_scale: float = 1.0  # SWARM_TIME_SCALE: simulated build time = real time × this
    durations_csv: str = ""  # SWARM_DURATIONS; default: the shipped real build times
    simulate_fail: tuple[str, ...] = ()  # SWARM_SIMULATE_FAIL: packages a simulated drone fails on purpose
    visibility_timeout: int = 12 * 3600  # SWARM_VISIBILITY_TIMEOUT: above the longest build (seconds)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'swarm.db'}"

    @property
    def binhost_dir(self) -> Path:
        return self.home / "binhost"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def name(self) -> str:
        return self.drone_name or socket.gethostname().split(".")[0]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        return cls(
            home=Path(get("SWARM_HOME") or DEFAULT_HOME).expanduser(),
            database_url=get("SWARM_DATABASE_URL", ""),
            broker_url=get("SWARM_BROKER_URL", ""),
            api_token=get("SWARM_API_TOKEN", ""),
            binhost_url=get("SWARM_BINHOST_URL", ""),
            drone_name=get("SWARM_DRONE_NAME", ""),
            arch=get("SWARM_ARCH", "amd64"),
            builder=get("SWARM_BUILDER", "simulate"),
            time_scale=_number(env, "SWARM_TIME_SCALE", 1.0),
            durations_csv=get("SWARM_DURATIONS", ""),
            simulate_fail=tuple(x for x in get("SWARM_SIMULATE_FAIL", "").split(",") if x),
            visibility_timeout=int(_number(env, "SWARM_VISIBILITY_TIMEOUT", 12 * 3600)),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that recreate these settings in a child process."""
        return {
            "SWARM_HOME": str(self.home), "SWARM_DATABASE_URL": self.database, "SWARM_BROKER_URL": self.broker_url,
            "SWARM_ARCH": self.arch, "SWARM_BUILDER": self.builder, "SWARM_TIME_SCALE": repr(self.time_scale),
            "SWARM_DURATIONS": self.durations_csv, "SWARM_SIMULATE_FAIL": ",".join(self.simulate_fail),
            "SWARM_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
        }


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    value = env.get(key, "")
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a number") from None
