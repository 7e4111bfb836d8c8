"""The record, the broker and the shared adapters every role builds on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import Engine

from swarm_celery.app import celery_config, create_app
from swarm_celery.binhost.publisher import SIGNING_KEY_FILE
from swarm_celery.binhost.served import Served
from swarm_celery.binhost.served import served_signing as binhost_served
from swarm_celery.binhost.signing import GpgSigner
from swarm_celery.buildlogs import BuildLogs
from swarm_celery.clock import SystemClock
from swarm_celery.domain.durations import Durations, parse_durations
from swarm_celery.domain.fifo import POLICIES
from swarm_celery.domain.fleet import DroneHost, parse_hosts
from swarm_celery.domain.policy import SchedulerConfig
from swarm_celery.domain.scheduling import RetryPolicy
from swarm_celery.errors import ConfigError
from swarm_celery.ports import RecordReader
from swarm_celery.settings import Settings
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from swarm_celery.store.token_repo import DroneTokens
from swarm_celery.tasks.messaging import CeleryMessenger
from swarm_celery.tasks.signing import COORDINATOR_NAME, create_certificate, enable_signing

SHIPPED_DURATIONS = Path(__file__).resolve().parents[1] / "data" / "build-durations.csv"


def celery_app(settings: Settings, signer: str = COORDINATOR_NAME) -> Celery:
    """The swarm's Celery app; with SWARM_MESSAGE_KEY every message it sends is signed and every one it takes must be,
    by a certificate of SWARM_MESSAGE_CERTS. ``signer``: whom this process's certificate must name."""
    if not settings.broker_url:
        raise ConfigError("no broker: set SWARM_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    app = create_app(settings.broker_url, settings.visibility_timeout, settings.home / "broker")
    if signing(settings):
        assert settings.message_key and settings.message_cert and settings.message_certs
        enable_signing(app, settings.message_key, settings.message_cert, settings.message_certs, signer)
    return app


def create_message_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A key and certificate for signing broker messages as ``name`` (a drone, or ``coordinator``)."""
    return create_certificate(directory, name)


def signing(settings: Settings) -> bool:
    """Whether broker messages are signed (all three settings, or none)."""
    given = [settings.message_key, settings.message_cert, settings.message_certs]
    if any(given) and not all(given):
        raise ConfigError("message signing needs SWARM_MESSAGE_KEY, SWARM_MESSAGE_CERT and SWARM_MESSAGE_CERTS together "
                          "(see docs/security.md)")
    return all(given)


def celery_config_of(settings: Settings) -> dict[str, Any]:
    """Every Celery setting of these settings' apps (the broker, routing, delivery, transport options)."""
    if not settings.broker_url:
        raise ConfigError("no broker: set SWARM_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    return celery_config(settings.broker_url, settings.visibility_timeout, settings.home / "broker")


def messenger(settings: Settings) -> CeleryMessenger:
    """The coordinator queue (plans, controls, hellos)."""
    return CeleryMessenger(celery_app(settings))


def engine(settings: Settings, upgrade: bool = True) -> Engine:
    eng = make_engine(settings.database)
    if upgrade:
        migrate(eng)
    return eng


def store(settings: Settings, upgrade: bool = True) -> SqlStore:
    return SqlStore(engine(settings, upgrade), SystemClock())


def queries(settings: Settings) -> RecordReader:
    """The query side of the record (what `status`, `history`, `fleet`, ... read)."""
    return Queries(engine(settings), offline_after=settings.offline_after)


def drone_tokens(settings: Settings) -> DroneTokens:
    return DroneTokens(engine(settings))


def scheduler_config(settings: Settings) -> SchedulerConfig:
    retry = RetryPolicy(tries=settings.retry_tries, backoff=settings.retry_backoff, factor=settings.retry_factor)
    if settings.scheduler not in POLICIES:
        raise ConfigError(f"SWARM_SCHEDULER={settings.scheduler!r} is not a scheduler: set it to {' or '.join(POLICIES)}")
    return SchedulerConfig(retry=retry, offline_after=settings.offline_after, breaker_failures=settings.breaker_failures,
                           breaker_window=settings.breaker_window, ground_for=settings.ground_for, lookahead=settings.lookahead,
                           lookahead_horizon=settings.lookahead_horizon, lease=settings.lease, policy=settings.scheduler)


def durations(settings: Settings) -> Durations:
    path = Path(settings.durations_csv) if settings.durations_csv else SHIPPED_DURATIONS
    try:
        return Durations(parse_durations(path.read_text()))
    except OSError as exc:
        raise ConfigError(f"cannot read the durations CSV {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"durations CSV {path}: {exc}") from None


def signer(settings: Settings) -> GpgSigner | None:
    """The binhost's signing key when SWARM_SIGNING_KEY is set (checked now: a missing key stops the coordinator)."""
    if not settings.signing_key:
        return None
    found = GpgSigner(settings.gnupg, settings.signing_key)
    found.fingerprint()
    return found


def served_signing(settings: Settings, arch: str, base_url: str) -> Served:
    """Whether the binhost serves signed packages, and by which key: this coordinator's key when SWARM_SIGNING_KEY is set
    here, else what the binhost serves (this host's SWARM_HOME/binhost, or ``base_url``)."""
    found = signer(settings)
    if found is not None:
        return Served(True, found.fingerprint(), "SWARM_SIGNING_KEY")
    return binhost_served(settings.binhost_dir, arch, base_url)


def create_signing_key(settings: Settings, uid: str) -> GpgSigner:
    """A new binhost signing key in the coordinator's GnuPG home (SWARM_GPG_HOME)."""
    return GpgSigner.create(settings.gnupg, uid)


def signing_key_file() -> str:
    """The name the binhost serves the public signing key under, next to the arch directories."""
    return SIGNING_KEY_FILE


def uploads_dir(settings: Settings) -> Path:
    """Where the API puts drones' uploads, ``<dir>/<attempt>/<name>``: the publisher takes them from here."""
    return settings.home / "uploads"


def build_logs_dir(settings: Settings) -> Path:
    """Where build logs are, ``<dir>/<attempt>.log``: written there by a drone as its build runs, uploaded there to the API."""
    return settings.logs_dir / "builds"


def build_logs(settings: Settings) -> BuildLogs:
    """Build logs, read a chunk at a time (`build-swarm logs`, the dashboard's viewer)."""
    return BuildLogs(build_logs_dir(settings), queries(settings))


def inventory(settings: Settings) -> dict[str, DroneHost]:
    """The drone hosts of SWARM_FLEET_FILE (none when unset: the fleet probe only pings)."""
    return hosts(settings)[0]


def hosts(settings: Settings) -> tuple[dict[str, DroneHost], dict[str, DroneHost]]:
    """The drones and the other machines of SWARM_FLEET_FILE (none when unset)."""
    path = settings.fleet_file
    if path is None:
        return {}, {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the fleet inventory {path}: {exc.strerror} (fix or unset SWARM_FLEET_FILE)") from None
    try:
        return parse_hosts(text, str(path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
