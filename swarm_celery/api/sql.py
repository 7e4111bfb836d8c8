"""Read-only SQL for operators: one query on a connection the database itself keeps read-only.

Not a string check: SQLite opens the file with ``mode=ro`` (and ``query_only``), so any write
fails inside SQLite; Postgres runs the query as a role that may only read (SWARM_SQL_DATABASE_URL,
see the README for the two GRANT lines), in a READ ONLY transaction with a statement timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError


class SqlRefused(ValueError):
    """The query was refused (by the database, or because it reads nothing): a 400 for the caller."""


@dataclass(frozen=True, slots=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class ReadOnlySql:
    def __init__(self, engine: Engine, timeout: float = 5.0) -> None:
        self.engine = engine
        self.timeout = timeout

    @classmethod
    def for_urls(cls, database_url: str, sql_url: str, timeout: float = 5.0) -> ReadOnlySql | None:
        """The store's own file read-only for SQLite; for Postgres only a read-only role's URL (None when not configured)."""
        parsed = make_url(sql_url or database_url)
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                return None
            engine = create_engine(f"sqlite:///file:{parsed.database}?mode=ro&uri=true")
            event.listen(engine, "connect", _sqlite_read_only)
            return cls(engine, timeout)
        if not sql_url:
            return None
        options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)}"
        return cls(create_engine(sql_url, pool_pre_ping=True, connect_args={"options": options}), timeout)

    def run(self, query: str, limit: int) -> SqlResult:
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    deadline = time.monotonic() + self.timeout
                    raw: Any = conn.connection.driver_connection
                    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
                else:
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                result = conn.exec_driver_sql(query)
                if not result.returns_rows:
                    conn.rollback()
                    raise SqlRefused("the query returned no rows: only SELECT (or WITH ... SELECT) queries are answered")
                columns = list(result.keys())
                rows = [[_jsonable(v) for v in row] for row in result.fetchmany(limit + 1)]
                conn.rollback()
        except (DBAPIError, StatementError) as exc:
            message = str(getattr(exc, "orig", exc)).strip().splitlines()
            raise SqlRefused(f"the database refused the query: {message[0] if message else exc}") from None
        return SqlResult(columns, rows[:limit], len(rows) > limit)


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
