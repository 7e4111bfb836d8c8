"""Engines and schema migration for SQLite (embedded default) and Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from swarm_celery.errors import RecordError, RecordFull

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so CLI readers never block the coordinator."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "handle_error", _explained)
    return engine


DAMAGED = ("database disk image is malformed", "file is not a database", "file is encrypted or is not a database")
FULL = ("database or disk is full", "no space left on device", "disk full")


def _explained(context: Any) -> Exception | None:
    """The record's own failures as one RecordError each (the CLI prints one line, the API answers 503/507)."""
    message = str(context.original_exception).strip().splitlines()[0] if str(context.original_exception).strip() else ""
    lowered = message.lower()
    where = context.engine.url.render_as_string(hide_password=True) if context.engine is not None else "the record"
    if any(text in lowered for text in DAMAGED):
        return RecordError(f"the record {where} is damaged ({message}): restore it from a backup, or try "
                           "`sqlite3 FILE .recover` into a new file")
    if any(text in lowered for text in FULL):
        return RecordFull(f"the record {where} cannot be written: its disk is full ({message}); free space there")
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
