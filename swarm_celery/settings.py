"""Settings: one frozen, keyword-only dataclass read from ``SWARM_*`` variables at entry points only.

Each setting is declared once, as a field with its variable, its help and its group
(:func:`setting`); reading the environment (:meth:`Settings.from_env`), writing it back for a
child process (:meth:`Settings.to_env`), the drone.conf keys and the reference table in
``docs/settings.md`` (``build-swarm settings --markdown``) all come from those declarations.
Nothing reads the environment at import time; tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from swarm_celery.errors import ConfigError

DEFAULT_HOME = Path.home() / ".local" / "share" / "build-swarm"
GROUPS = ("paths and services", "simulation", "drone", "coordinator", "emerge builder", "API", "fleet", "signing")


@dataclass(frozen=True)
class Spec:
    """How one setting is read and written: its variable, what it means, where the docs list it."""

    env: str
    help: str
    group: str
    shown_default: str = ""  # the default as the docs say it, when the value alone does not say it
    secret: bool = False  # masked by `build-swarm settings`
    clean: Callable[[str], str] | None = None  # normalizes a value read (e.g. strips a trailing /)


def setting(env: str, default: Any, help: str, group: str, *, shown: str = "", secret: bool = False,
            clean: Callable[[str], str] | None = None) -> Any:
    """A field of :class:`Settings` read from ``env``."""
    return field(default=default, metadata={"setting": Spec(env, help, group, shown, secret, clean)})


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: Path = setting("SWARM_HOME", DEFAULT_HOME, "binhost, staging, logs, caches, the SQLite database", "paths and services",
                         shown="~/.local/share/build-swarm")
    database_url: str = setting("SWARM_DATABASE_URL", "", "SQLAlchemy URL of the record (`postgresql+psycopg2://…`)", "paths and services",
                                shown="sqlite:///$SWARM_HOME/swarm.db", secret=True)
    broker_url: str = setting("SWARM_BROKER_URL", "", "Celery broker; required by workers", "paths and services",
                              shown="demo: a private redis-server if installed, else filesystem://", secret=True)
    repo: Path | None = setting("SWARM_REPO", None, "the Gentoo tree `resolve`, `queue add`, `demo` and `profile create` use "
                                "when no --repo is given", "paths and services", shown="/var/db/repos/gentoo, else the shipped synthetic tree")
    visibility_timeout: int = setting("SWARM_VISIBILITY_TIMEOUT", 12 * 3600, "Redis visibility timeout (s), above the longest build", "paths and services")
    # simulated drones
    builder: str = setting("SWARM_BUILDER", "emerge", "how this swarm builds: `emerge` (real) or `simulate`; a drone builds so, "
                           "the coordinator marks every session so (only drones of that kind build it)", "simulation",
                           shown="emerge (demo: simulate)")
    time_scale: float = setting("SWARM_TIME_SCALE", 1.0, "simulated build time = the package's real build time × this", "simulation")
    durations_csv: str = setting("SWARM_DURATIONS", "", "CSV of build durations (the scheduler's prior, the simulation's times)", "simulation",
                                 shown="the shipped real build times")
    simulate_fail: tuple[str, ...] = setting("SWARM_SIMULATE_FAIL", (), "packages a simulated drone fails on purpose "
                                             "(`cat/pkg`, `infra:cat/pkg`, `infra:*`), comma-separated", "simulation", shown="none")
    simulate_speed: float = setting("SWARM_SIMULATE_SPEED", 1.0, "this simulated drone builds N× slower (2.0) or faster (0.5)", "simulation")
    simulate_noise: float = setting("SWARM_SIMULATE_NOISE", 0.0, "each package really takes the table's time × a log-normal factor "
                                    "of this spread (0.3: typically ±30 %)", "simulation", shown="0 (exact)")
    simulate_bias: float = setting("SWARM_SIMULATE_BIAS", 1.0, "every simulated build takes this × the table's time (the scheduler "
                                   "is not told)", "simulation")
    simulate_transient: float = setting("SWARM_SIMULATE_TRANSIENT", 0.0, "probability that a package's first try fails as an "
                                        "infrastructure failure (a fetch timing out); its retry succeeds", "simulation")
    simulate_seed: int = setting("SWARM_SIMULATE_SEED", 0, "the seed of the noise and the transient failures (the same on every "
                                 "drone: one seed, one world)", "simulation")
    # drones
    drone_name: str = setting("SWARM_DRONE_NAME", "", "this drone's name", "drone", shown="the host name")
    arch: str = setting("SWARM_ARCH", "amd64", "this drone's arch", "drone")
    cores_per_slot: int = setting("SWARM_CORES_PER_SLOT", 4, "a drone's build slots = its cores // this (at least 1)", "drone")
    slots: int = setting("SWARM_SLOTS", 0, "concurrent builds, fixed (0: from the cores)", "drone")
    core_limit: int = setting("SWARM_CORE_LIMIT", 0, "use at most this many cores (a NAS yielding to its owner; 0: all)", "drone")
    start_paused: bool = setting("SWARM_DRONE_PAUSED", False, "the drone joins paused and works after `control resume --drone NAME`", "drone")
    heartbeat: float = setting("SWARM_HEARTBEAT", 30.0, "seconds between a drone's heartbeats", "drone")
    start_report_after: float = setting("SWARM_START_REPORT_AFTER", 1.0, "a build's start report is sent once it has run this many "
                                        "seconds (a shorter build sends only its completion; 0: at once)", "drone")
    tree: Path = setting("SWARM_TREE", Path("/var/db/repos/gentoo"), "the portage tree whose timestamp a drone announces "
                         "(and the coordinator compares drones' trees with)", "drone")
    portage_config_root: Path = setting("SWARM_PORTAGE_CONFIGROOT", Path("/etc/portage"), "where a drone's make.profile is (its "
                                        "Gentoo profile is announced)", "drone")
    coordinator_url: str = setting("SWARM_COORDINATOR_URL", "", "drones upload artifacts and logs to this API URL", "drone",
                                   shown="unset: a shared staging directory", clean=lambda v: v.rstrip("/"))
    drone_token: str = setting("SWARM_DRONE_TOKEN", "", "this drone's upload token (`build-swarm token issue NAME`)", "drone", secret=True)
    # coordinator policy
    offline_after: float = setting("SWARM_OFFLINE_AFTER", 120.0, "a drone silent this long (s) gets no new work", "coordinator")
    retry_tries: int = setting("SWARM_RETRY_TRIES", 3, "package failures before a package is blocked", "coordinator")
    retry_backoff: float = setting("SWARM_RETRY_BACKOFF", 60.0, "seconds before the first retry (then × SWARM_RETRY_FACTOR each)", "coordinator")
    retry_factor: float = setting("SWARM_RETRY_FACTOR", 3.0, "each further retry waits this many times longer", "coordinator")
    breaker_failures: int = setting("SWARM_BREAKER_FAILURES", 8, "infrastructure failures in the window that ground a drone", "coordinator")
    breaker_window: float = setting("SWARM_BREAKER_WINDOW", 1800.0, "the circuit breaker's window (s)", "coordinator")
    ground_for: float = setting("SWARM_GROUND_FOR", 300.0, "seconds a grounded drone stays grounded", "coordinator")
    scheduler: str = setting("SWARM_SCHEDULER", "critical-path", "`critical-path`: the longest remaining chain first, where it "
                             "finishes first; `fifo`: merge order to any free drone (a baseline to compare with)", "coordinator")
    lookahead_horizon: float = setting("SWARM_LOOKAHEAD_HORIZON", 0.3, "a build is queued behind a busy slot only if that slot "
                                       "should free within this many seconds (else it waits for the next free slot)", "coordinator")
    lookahead: int = setting("SWARM_LOOKAHEAD", 0, "builds queued per drone beyond its slots (only for very short builds)", "coordinator",
                             shown="0 (demo: 1)")
    lease: float = setting("SWARM_LEASE", 90.0, "a started build no heartbeat names for this long (s) is reclaimed (keep above "
                           "2 heartbeats)", "coordinator", shown="90 (demo: 20)")
    reclaim_every: float = setting("SWARM_RECLAIM_EVERY", 30.0, "beat runs stale-work reclaim this often (s)", "coordinator", shown="30 (demo: 5)")
    tree_check_every: float = setting("SWARM_TREE_CHECK_EVERY", 300.0, "beat looks for a changed tree of a build profile this "
                                      "often (s)", "coordinator")
    snapshot_keep: int = setting("SWARM_SNAPSHOT_KEEP", 10, "tree snapshots kept per tree (the oldest go first)", "coordinator")
    generations_keep: int = setting("SWARM_GENERATIONS_KEEP", 5, "binhost generations `binhost purge` keeps per build profile and arch "
                                    "besides tagged, kept and published ones", "coordinator")
    binhost_budget: str = setting("SWARM_BINHOST_BUDGET", "", "disk `binhost purge` fits the binhost into (e.g. 20G, 500M): it then "
                                  "also removes the oldest generations neither published, kept nor tagged, and superseded "
                                  "staging builds", "coordinator", shown="unset: no budget")
    # the emerge builder
    emerge: str = setting("SWARM_EMERGE", "emerge", "the emerge executable (looked up on PATH)", "emerge builder")
    emerge_prefix: Path | None = setting("SWARM_EMERGE_PREFIX", None, "build in this private portage prefix (EPREFIX, "
                                         "`build-swarm prefix init`) with each plan's own configuration", "emerge builder",
                                         shown="unset: the host's /etc/portage")
    binhost_url: str = setting("SWARM_BINHOST_URL", "", "the binhost tree drones fetch dependencies from (PORTAGE_BINHOST)", "emerge builder")
    pkgdir: Path = setting("SWARM_PKGDIR", Path("/var/cache/binpkgs"), "the drone's PKGDIR", "emerge builder")
    portage_tmpdir: Path = setting("SWARM_PORTAGE_TMPDIR", Path("/var/tmp/portage"), "where builds happen (checked for free disk)", "emerge builder")
    build_timeout: float = setting("SWARM_BUILD_TIMEOUT", 10 * 3600.0, "seconds before a build (its whole process group) is "
                                   "stopped; below the visibility timeout", "emerge builder")
    min_free_mb: int = setting("SWARM_MIN_FREE_MB", 4096, "a drone refuses to build with less free disk (MiB)", "emerge builder")
    # the coordinator API
    api_host: str = setting("SWARM_API_HOST", "127.0.0.1", "where the API listens (0.0.0.0 for a fleet)", "API")
    api_port: int = setting("SWARM_API_PORT", 8080, "the API's port", "API")
    api_token: str = setting("SWARM_API_TOKEN", "", "the admin token: queue, control, SQL, and every read unless public", "API",
                             secret=True)
    public_status: bool = setting("SWARM_PUBLIC_STATUS", False, "reads (status, sessions, history, events, fleet, logs, metrics, "
                                  "the dashboard's read-only pages) need no token", "API")
    sql_database_url: str = setting("SWARM_SQL_DATABASE_URL", "", "Postgres: a role that may only SELECT, for POST /api/v1/sql "
                                    "(SQLite opens the file read-only)", "API", shown="off on Postgres", secret=True)
    # fleet probes and the healing ladder
    fleet_file: Path | None = setting("SWARM_FLEET_FILE", None, "the TOML inventory of drone hosts for SSH probes and healing", "fleet",
                                      shown="unset: Celery pings only")
    probe_every: float = setting("SWARM_PROBE_EVERY", 60.0, "beat probes the fleet this often (s)", "fleet")
    ssh_timeout: float = setting("SWARM_SSH_TIMEOUT", 10.0, "seconds to connect to a drone host", "fleet")
    stuck_after: float = setting("SWARM_STUCK_AFTER", 0.0, "an emerge older than this (s) is stuck", "fleet", shown="SWARM_BUILD_TIMEOUT")
    tree_slack: float = setting("SWARM_TREE_SLACK", 3600.0, "a drone's tree this much older (s) than the coordinator's is stale", "fleet")
    heal_grace: float = setting("SWARM_HEAL_GRACE", 120.0, "a drone silent this long (s) gets its service restarted", "fleet")
    heal_cooldown: float = setting("SWARM_HEAL_COOLDOWN", 300.0, "seconds between one healing step and the next", "fleet")
    alert_webhook: str = setting("SWARM_ALERT_WEBHOOK", "", "the healing ladder's last step POSTs JSON here", "fleet",
                                 shown="unset: an event only", secret=True)
    # provisioning, deploys and audits of drone hosts
    wheelhouse_dir: Path | None = setting("SWARM_WHEELHOUSE", None, "the wheels `drone provision` and `drone deploy` push to drones "
                                          "(build-swarm's; with its dependencies' too, drones need no package index)", "fleet",
                                          shown="$SWARM_HOME/wheels")
    drone_broker_url: str = setting("SWARM_DRONE_BROKER_URL", "", "the broker URL provisioned drones get (the coordinator's own may "
                                    "say 127.0.0.1)", "fleet", shown="SWARM_BROKER_URL", secret=True)
    drone_spec: Path | None = setting("SWARM_DRONE_SPEC", None, "the golden drone spec `drone audit` judges hosts by", "fleet",
                                      shown="the shipped drone-image/spec.toml")
    audit_every: float = setting("SWARM_AUDIT_EVERY", 86400.0, "beat audits every drone of the inventory this often (s)", "fleet")
    audit_hold: bool = setting("SWARM_AUDIT_HOLD", False, "a drone whose audit fails is held (paused) until `control resume --drone`",
                               "fleet")
    # signing the binhost
    signing_key: str = setting("SWARM_SIGNING_KEY", "", "fingerprint of the key that signs every published GPKG", "signing", shown="unsigned")
    gpg_home: Path | None = setting("SWARM_GPG_HOME", None, "the coordinator's GnuPG home holding it", "signing", shown="$SWARM_HOME/gnupg")
    message_key: Path | None = setting("SWARM_MESSAGE_KEY", None, "sign every broker message with this RSA key (PEM; "
                                       "`build-swarm cert create NAME`)", "signing", shown="unsigned")
    message_cert: Path | None = setting("SWARM_MESSAGE_CERT", None, "its certificate: common name `coordinator` for the coordinator, "
                                        "beat, the API and the CLI, the drone's name for a drone", "signing")
    message_certs: Path | None = setting("SWARM_MESSAGE_CERTS", None, "the directory of certificates whose messages are accepted "
                                         "(the coordinator: its own and every drone's; a drone: the coordinator's)", "signing")

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
    def build_configs_dir(self) -> Path:
        return self.home / "build-configs"  # the plans' portage configurations, by hash (resolve.build_config)

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
    def wheelhouse(self) -> Path:
        return self.wheelhouse_dir or self.home / "wheels"

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
        """Every setting from ``env`` (default: the process environment); an unset or empty variable is its default."""
        env = os.environ if env is None else env
        values = {f.name: _parse(f, spec, env[spec.env]) for f, spec in declared() if env.get(spec.env)}
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The variables that recreate these settings in a child process."""
        return {spec.env: _render(getattr(self, f.name)) for f, spec in declared()}


def declared() -> Iterator[tuple[Field[Any], Spec]]:
    """Each setting's field and declaration, in the order they are declared."""
    for f in fields(Settings):
        yield f, f.metadata["setting"]


def _parse(f: Field[Any], spec: Spec, raw: str) -> Any:
    value = spec.clean(raw) if spec.clean else raw
    kind = f.type if isinstance(f.type, str) else str(f.type)
    if kind in ("Path", "Path | None"):
        return Path(value).expanduser()
    if kind == "bool":
        return value.strip().lower() in ("1", "true", "yes", "on")
    if kind == "tuple[str, ...]":
        return tuple(x.strip() for x in value.split(",") if x.strip())
    if kind in ("int", "float"):
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{spec.env}={raw!r} is not a number") from None
        return int(number) if kind == "int" else number
    return value


def _render(value: object) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def settings_table() -> str:
    """The reference of every setting as Markdown, one table per group (docs/settings.md is this text)."""
    lines = ["# Settings", "", "Every setting is a `SWARM_*` environment variable (a drone also reads them from drone.conf).",
             "`build-swarm settings` shows the values in effect; this page is `build-swarm settings --markdown`.", ""]
    for group in GROUPS:
        lines += [f"## {group[0].upper()}{group[1:]}", "", "| variable | meaning | default |", "|---|---|---|"]
        for f, spec in declared():
            if spec.group == group:
                lines.append(f"| `{spec.env}` | {spec.help} | {spec.shown_default or _render(f.default) or '—'} |")
        lines.append("")
    return "\n".join(lines)


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
    known = {spec.env for _, spec in declared()}
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
            raise ConfigError(f"{where}: unknown setting {key} (see docs/settings.md or `build-swarm settings`)")
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc} in the value of {key}") from None
        values[key] = " ".join(words)
    return values
