"""Settings: one frozen, keyword-only dataclass read from ``SWARM_*`` variables at entry points only.

Nothing reads the environment at import time; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import os
import re
import shlex
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
    simulate_speed: float = 1.0  # SWARM_SIMULATE_SPEED: this simulated drone builds N× slower (2.0) or faster (0.5)
    # drone capacity
    cores_per_slot: int = 4  # SWARM_CORES_PER_SLOT: slots = cores // this (at least 1)
    slots: int = 0  # SWARM_SLOTS: concurrent builds; 0 = from the cores
    core_limit: int = 0  # SWARM_CORE_LIMIT: use at most this many cores (a NAS yielding to its owner); 0 = all
    start_paused: bool = False  # SWARM_DRONE_PAUSED=1: the drone joins paused and takes work after `control resume --drone`
    heartbeat: float = 30.0  # SWARM_HEARTBEAT: seconds between a drone's heartbeats
    # coordinator policy
    offline_after: float = 120.0  # SWARM_OFFLINE_AFTER: a drone silent this long gets no new work
    retry_tries: int = 3  # SWARM_RETRY_TRIES: package failures before a package is blocked
    retry_backoff: float = 60.0  # SWARM_RETRY_BACKOFF: seconds before the first retry
    retry_factor: float = 3.0  # SWARM_RETRY_FACTOR: each further retry waits this many times longer
    breaker_failures: int = 8  # SWARM_BREAKER_FAILURES: infrastructure failures in the window that ground a drone
    breaker_window: float = 1800.0  # SWARM_BREAKER_WINDOW (seconds)
    ground_for: float = 300.0  # SWARM_GROUND_FOR: seconds a grounded drone stays grounded
    lookahead: int = 0  # SWARM_LOOKAHEAD: builds queued per drone beyond its slots (only for very short builds)
    lease: float = 90.0  # SWARM_LEASE: a started build with no heartbeat for this long is reclaimed (keep above 2 heartbeats)
    reclaim_every: float = 30.0  # SWARM_RECLAIM_EVERY: beat runs stale-work reclaim this often (seconds)
    tree_check_every: float = 300.0  # SWARM_TREE_CHECK_EVERY: beat looks for a changed portage tree this often (seconds)
    snapshot_keep: int = 10  # SWARM_SNAPSHOT_KEEP: tree snapshots kept per tree (the oldest go first)
    # the emerge builder (SWARM_BUILDER=emerge)
    emerge: str = "emerge"  # SWARM_EMERGE: the emerge executable (looked up on PATH)
    pkgdir: Path = Path("/var/cache/binpkgs")  # SWARM_PKGDIR: the drone's PKGDIR
    portage_tmpdir: Path = Path("/var/tmp/portage")  # SWARM_PORTAGE_TMPDIR: where builds happen (checked for free disk)
    build_timeout: float = 10 * 3600.0  # SWARM_BUILD_TIMEOUT: seconds before a build is stopped (below the visibility timeout)
    min_free_mb: int = 4096  # SWARM_MIN_FREE_MB: a drone refuses to build with less free disk than this
    tree: Path = Path("/var/db/repos/gentoo")  # SWARM_TREE: the drone's portage tree (its timestamp is announced)
    portage_config_root: Path = Path("/etc/portage")  # SWARM_PORTAGE_CONFIGROOT: where make.profile is (its profile is announced)
    # the coordinator API, and drones that talk to it
    api_host: str = "127.0.0.1"  # SWARM_API_HOST: where `build-swarm api` listens (0.0.0.0 for a fleet)
    api_port: int = 8080  # SWARM_API_PORT
    public_status: bool = False  # SWARM_PUBLIC_STATUS=1: reads (status, history, fleet, logs, metrics) need no token
    sql_database_url: str = ""  # SWARM_SQL_DATABASE_URL: a read-only role for POST /api/v1/sql (Postgres; SQLite opens read-only)
    coordinator_url: str = ""  # SWARM_COORDINATOR_URL: drones upload artifacts and logs here (unset: a shared filesystem)
    drone_token: str = ""  # SWARM_DRONE_TOKEN: this drone's token (`build-swarm token issue NAME`)
    # fleet probes and the healing ladder (beat: swarm.probe_fleet)
    fleet_file: Path | None = None  # SWARM_FLEET_FILE: the TOML inventory of drone hosts (SSH); unset: only Celery pings
    probe_every: float = 60.0  # SWARM_PROBE_EVERY: beat probes the fleet this often (seconds)
    ssh_timeout: float = 10.0  # SWARM_SSH_TIMEOUT: seconds to connect to a drone host
    stuck_after: float = 0.0  # SWARM_STUCK_AFTER: an emerge older than this is stuck (0 = SWARM_BUILD_TIMEOUT)
    tree_slack: float = 3600.0  # SWARM_TREE_SLACK: a drone's tree this much older than the coordinator's is stale
    heal_grace: float = 120.0  # SWARM_HEAL_GRACE: a drone silent this long gets its service restarted (ladder level 1)
    heal_cooldown: float = 300.0  # SWARM_HEAL_COOLDOWN: seconds between one ladder level and the next
    alert_webhook: str = ""  # SWARM_ALERT_WEBHOOK: the ladder's last level POSTs JSON here ("" = an event only)
    # signing the binhost
    signing_key: str = ""  # SWARM_SIGNING_KEY: fingerprint of the key that signs every published GPKG ("" = unsigned)
    gpg_home: Path | None = None  # SWARM_GPG_HOME: the coordinator's GnuPG home holding it (default <home>/gnupg)

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
    def run_dir(self) -> Path:
        return self.home / "run"  # a drone's running builds (process groups), for the next start to stop after a crash

    @property
    def gnupg(self) -> Path:
        return self.gpg_home or self.home / "gnupg"

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
            simulate_speed=_number(env, "SWARM_SIMULATE_SPEED", 1.0),
            cores_per_slot=int(_number(env, "SWARM_CORES_PER_SLOT", 4)),
            slots=int(_number(env, "SWARM_SLOTS", 0)),
            core_limit=int(_number(env, "SWARM_CORE_LIMIT", 0)),
            start_paused=get("SWARM_DRONE_PAUSED", "") in ("1", "true", "yes"),
            heartbeat=_number(env, "SWARM_HEARTBEAT", 30.0),
            offline_after=_number(env, "SWARM_OFFLINE_AFTER", 120.0),
            retry_tries=int(_number(env, "SWARM_RETRY_TRIES", 3)),
            retry_backoff=_number(env, "SWARM_RETRY_BACKOFF", 60.0),
            retry_factor=_number(env, "SWARM_RETRY_FACTOR", 3.0),
            breaker_failures=int(_number(env, "SWARM_BREAKER_FAILURES", 8)),
            breaker_window=_number(env, "SWARM_BREAKER_WINDOW", 1800.0),
            ground_for=_number(env, "SWARM_GROUND_FOR", 300.0),
            lookahead=int(_number(env, "SWARM_LOOKAHEAD", 0)),
            lease=_number(env, "SWARM_LEASE", 90.0),
            reclaim_every=_number(env, "SWARM_RECLAIM_EVERY", 30.0),
            tree_check_every=_number(env, "SWARM_TREE_CHECK_EVERY", 300.0),
            snapshot_keep=int(_number(env, "SWARM_SNAPSHOT_KEEP", 10)),
            emerge=get("SWARM_EMERGE") or "emerge",
            pkgdir=Path(get("SWARM_PKGDIR") or "/var/cache/binpkgs"),
            portage_tmpdir=Path(get("SWARM_PORTAGE_TMPDIR") or "/var/tmp/portage"),
            build_timeout=_number(env, "SWARM_BUILD_TIMEOUT", 10 * 3600.0),
            min_free_mb=int(_number(env, "SWARM_MIN_FREE_MB", 4096)),
            tree=Path(get("SWARM_TREE") or "/var/db/repos/gentoo"),
            portage_config_root=Path(get("SWARM_PORTAGE_CONFIGROOT") or "/etc/portage"),
            api_host=get("SWARM_API_HOST") or "127.0.0.1",
            api_port=int(_number(env, "SWARM_API_PORT", 8080)),
            public_status=get("SWARM_PUBLIC_STATUS", "") in ("1", "true", "yes"),
            sql_database_url=get("SWARM_SQL_DATABASE_URL", ""),
            coordinator_url=get("SWARM_COORDINATOR_URL", "").rstrip("/"),
            drone_token=get("SWARM_DRONE_TOKEN", ""),
            fleet_file=Path(get("SWARM_FLEET_FILE", "")).expanduser() if get("SWARM_FLEET_FILE") else None,
            probe_every=_number(env, "SWARM_PROBE_EVERY", 60.0),
            ssh_timeout=_number(env, "SWARM_SSH_TIMEOUT", 10.0),
            stuck_after=_number(env, "SWARM_STUCK_AFTER", 0.0),
            tree_slack=_number(env, "SWARM_TREE_SLACK", 3600.0),
            heal_grace=_number(env, "SWARM_HEAL_GRACE", 120.0),
            heal_cooldown=_number(env, "SWARM_HEAL_COOLDOWN", 300.0),
            alert_webhook=get("SWARM_ALERT_WEBHOOK", ""),
            signing_key=get("SWARM_SIGNING_KEY", ""),
            gpg_home=Path(get("SWARM_GPG_HOME", "")).expanduser() if get("SWARM_GPG_HOME") else None,
        )

    def to_env(self) -> dict[str, str]:
        """The variables that recreate these settings in a child process."""
        return {
            "SWARM_HOME": str(self.home), "SWARM_DATABASE_URL": self.database, "SWARM_BROKER_URL": self.broker_url,
            "SWARM_ARCH": self.arch, "SWARM_BUILDER": self.builder, "SWARM_TIME_SCALE": repr(self.time_scale),
            "SWARM_DURATIONS": self.durations_csv, "SWARM_SIMULATE_FAIL": ",".join(self.simulate_fail),
            "SWARM_VISIBILITY_TIMEOUT": str(self.visibility_timeout), "SWARM_SIMULATE_SPEED": repr(self.simulate_speed),
            "SWARM_CORES_PER_SLOT": str(self.cores_per_slot), "SWARM_SLOTS": str(self.slots), "SWARM_CORE_LIMIT": str(self.core_limit),
            "SWARM_DRONE_PAUSED": "1" if self.start_paused else "", "SWARM_HEARTBEAT": repr(self.heartbeat),
            "SWARM_OFFLINE_AFTER": repr(self.offline_after), "SWARM_RETRY_TRIES": str(self.retry_tries),
            "SWARM_RETRY_BACKOFF": repr(self.retry_backoff), "SWARM_RETRY_FACTOR": repr(self.retry_factor),
            "SWARM_BREAKER_FAILURES": str(self.breaker_failures), "SWARM_BREAKER_WINDOW": repr(self.breaker_window),
            "SWARM_GROUND_FOR": repr(self.ground_for), "SWARM_LOOKAHEAD": str(self.lookahead),
            "SWARM_LEASE": repr(self.lease), "SWARM_RECLAIM_EVERY": repr(self.reclaim_every), "SWARM_TREE_CHECK_EVERY": repr(self.tree_check_every),
            "SWARM_SNAPSHOT_KEEP": str(self.snapshot_keep),
            "SWARM_BINHOST_URL": self.binhost_url, "SWARM_EMERGE": self.emerge, "SWARM_PKGDIR": str(self.pkgdir),
            "SWARM_PORTAGE_TMPDIR": str(self.portage_tmpdir), "SWARM_BUILD_TIMEOUT": repr(self.build_timeout),
            "SWARM_MIN_FREE_MB": str(self.min_free_mb), "SWARM_TREE": str(self.tree),
            "SWARM_PORTAGE_CONFIGROOT": str(self.portage_config_root), "SWARM_API_HOST": self.api_host,
            "SWARM_API_PORT": str(self.api_port), "SWARM_PUBLIC_STATUS": "1" if self.public_status else "",
            "SWARM_SQL_DATABASE_URL": self.sql_database_url, "SWARM_COORDINATOR_URL": self.coordinator_url,
            "SWARM_DRONE_TOKEN": self.drone_token, "SWARM_API_TOKEN": self.api_token, "SWARM_SIGNING_KEY": self.signing_key,
            "SWARM_GPG_HOME": str(self.gnupg), "SWARM_FLEET_FILE": str(self.fleet_file or ""),
            "SWARM_PROBE_EVERY": repr(self.probe_every), "SWARM_SSH_TIMEOUT": repr(self.ssh_timeout),
            "SWARM_STUCK_AFTER": repr(self.stuck_after), "SWARM_TREE_SLACK": repr(self.tree_slack),
            "SWARM_HEAL_GRACE": repr(self.heal_grace), "SWARM_HEAL_COOLDOWN": repr(self.heal_cooldown),
            "SWARM_ALERT_WEBHOOK": self.alert_webhook,
        }


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    value = env.get(key, "")
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a number") from None


DRONE_CONF = Path("/etc/build-swarm/drone.conf")
_DRONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # what may stand in drone-NAME.conf


def drone_conf_path(name: str, directory: Path = DRONE_CONF.parent) -> Path | None:
    """The drone.conf drone ``name`` reads when none is named: ``drone-NAME.conf`` when it exists (several drones on
    one host, e.g. the systemd instances ``build-swarm-drone@NAME``), else ``drone.conf`` when it exists, else None."""
    candidates = [directory / f"drone-{name}.conf"] if _DRONE_NAME.fullmatch(name) else []
    return next((path for path in [*candidates, directory / DRONE_CONF.name] if path.is_file()), None)
_ASSIGNMENT = re.compile(r"^(?:export\s+)?(SWARM_[A-Z0-9_]+)=(.*)$")
_NOT_FOR_DRONES = {
    "SWARM_DATABASE_URL": "a drone holds no database credentials: remove SWARM_DATABASE_URL (only the coordinator needs it)",
    "SWARM_SQL_DATABASE_URL": "a drone holds no database credentials: remove SWARM_SQL_DATABASE_URL",
    "SWARM_API_TOKEN": "a drone holds no admin token: remove SWARM_API_TOKEN and use SWARM_DRONE_TOKEN (`build-swarm token issue NAME`)",
    "SWARM_SIGNING_KEY": "a drone signs nothing: the coordinator signs what it publishes; remove SWARM_SIGNING_KEY",
}


def read_conf(path: Path) -> dict[str, str]:
    """``SWARM_*=value`` lines (shell quoting, ``#`` comments, optional ``export``), the format of drone.conf.

    Nothing is expanded or executed; an unknown key, a malformed line or a database URL is a ConfigError naming the line.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    known = set(Settings().to_env()) | {"SWARM_DRONE_NAME"}
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        where = f"{path}:{number}"
        if match is None:
            raise ConfigError(f"{where}: expected SWARM_NAME=value, got {line[:60]!r}")
        key, value = match.groups()
        if key in _NOT_FOR_DRONES:
            raise ConfigError(f"{where}: {_NOT_FOR_DRONES[key]}")
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key} (see the Settings list in the README)")
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc} in the value of {key}") from None
        values[key] = " ".join(words)
    return values
