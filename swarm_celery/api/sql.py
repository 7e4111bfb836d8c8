"""Read-only SQL for operators: one query on a connection that cannot write, cannot run long and cannot return much.

Not a string check. On SQLite a fresh connection (no pool: nothing one query sets can reach the next)
opens the file with ``mode=ro`` and an authorizer that allows reading the record's tables and a fixed
list of functions and nothing else — no ATTACH (so no ``VACUUM INTO``, no second, writable database),
no PRAGMA, no write of any kind, no ``randomblob``/``zeroblob``; a value is at most ``value_bytes``
long (SQLite's length limit: ``printf('%.*c', 999999999, 'x')`` fails at once), a progress handler
stops the query at its deadline. On Postgres the query runs as a role that may only read
(SWARM_SQL_DATABASE_URL, see docs/api.md for the two GRANT lines), in a READ ONLY transaction with a
statement timeout, wrapped so that at most ``limit + 1`` rows come back and a value over
``value_bytes`` comes back as null. Either way the answer holds at most ``answer_bytes``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import NullPool

SQLITE_FUNCTIONS = frozenset({
    "abs", "avg", "char", "coalesce", "count", "date", "datetime", "format", "glob", "group_concat", "hex", "ifnull", "iif",
    "instr", "json", "json_array", "json_array_length", "json_extract", "json_group_array", "json_group_object", "json_object",
    "json_type", "json_valid", "julianday", "length", "like", "lower", "ltrim", "max", "min", "nullif", "printf", "quote",
    "replace", "round", "rtrim", "sign", "sqlite_version", "strftime", "string_agg", "substr", "substring", "sum", "time",
    "total", "trim", "typeof", "unicode", "unixepoch", "upper",
})
ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})


class SqlRefused(ValueError):
    """The query was refused (by the database, or because it reads nothing): a 400 for the caller."""


@dataclass(frozen=True, slots=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


@dataclass(frozen=True, slots=True)
class SqlLimits:
    timeout: float = 5.0  # seconds a query may run
    value_bytes: int = 1 << 20  # one value (a string, a blob)
    answer_bytes: int = 8 << 20  # the whole answer


class ReadOnlySql:
    def __init__(self, engine: Engine, limits: SqlLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or SqlLimits()

    @classmethod
    def for_urls(cls, database_url: str, sql_url: str, limits: SqlLimits | None = None) -> ReadOnlySql | None:
        """The store's own file read-only for SQLite; for Postgres only a read-only role's URL (None when not configured)."""
        limits = limits or SqlLimits()
        parsed = make_url(sql_url or database_url)
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                return None
            engine = create_engine(f"sqlite:///file:{parsed.database}?mode=ro&uri=true", poolclass=NullPool)
            event.listen(engine, "connect", lambda connection, _record: _lock_down(connection, limits))
            return cls(engine, limits)
        if not sql_url:
            return None
        options = f"-c default_transaction_read_only=on -c statement_timeout={int(limits.timeout * 1000)}"
        return cls(create_engine(sql_url, pool_pre_ping=True, connect_args={"options": options}), limits)

    def run(self, query: str, limit: int) -> SqlResult:
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    deadline = time.monotonic() + self.limits.timeout
                    raw: Any = conn.connection.driver_connection
                    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1_000)
                    result = conn.exec_driver_sql(query)
                else:
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                    result = conn.exec_driver_sql(_capped(conn, query, limit, self.limits.value_bytes))
                if not result.returns_rows:
                    conn.rollback()
                    raise SqlRefused("the query returned no rows: only SELECT (or WITH ... SELECT) queries are answered")
                columns = list(result.keys())
                rows, truncated = self._bounded(result, limit)
                conn.rollback()
        except (DBAPIError, StatementError) as exc:
            message = str(getattr(exc, "orig", exc)).strip().splitlines()
            raise SqlRefused(f"the database refused the query: {message[0] if message else exc}") from None
        return SqlResult(columns, rows, truncated)

    def _bounded(self, result: Any, limit: int) -> tuple[list[list[Any]], bool]:
        """At most ``limit`` rows and ``answer_bytes`` of values; whether more were left out."""
        rows: list[list[Any]] = []
        spent = 0
        for row in result.fetchmany(limit + 1):
            values = [_jsonable(v) for v in row]
            spent += sum(len(v) if isinstance(v, str) else 8 for v in values)
            if len(rows) == limit or spent > self.limits.answer_bytes:
                return rows, True
            rows.append(values)
        return rows, False


def _lock_down(connection: Any, limits: SqlLimits) -> None:
    """A new SQLite connection for one query: reads of the main database and listed functions only, values bounded."""
    connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.value_bytes)
    connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    connection.set_authorizer(_authorize)


def _authorize(action: int, _first: str | None, second: str | None, _database: str | None, _trigger: str | None) -> int:
    if action in ALLOWED:  # reading: the only databases are the record and SQLite's empty temp (nothing can be attached)
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in SQLITE_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _capped(conn: Any, query: str, limit: int, value_bytes: int) -> str:
    """Postgres: the query wrapped so that at most limit + 1 rows come back, each value over ``value_bytes`` as null."""
    body = query.strip().rstrip(";")
    probe = conn.exec_driver_sql(f"SELECT * FROM ({body}) AS swarm_query LIMIT 0")
    names = probe.keys()  # the result's column names (not a mapping)
    columns = [str(c) for c in names]
    probe.close()
    if not columns:
        return f"SELECT * FROM ({body}) AS swarm_query LIMIT {limit + 1}"
    capped = ", ".join(f'CASE WHEN pg_column_size(swarm_query."{_quoted(c)}") > {value_bytes} THEN NULL '
                       f'ELSE swarm_query."{_quoted(c)}" END AS "{_quoted(c)}"' for c in columns)
    return f"SELECT {capped} FROM ({body}) AS swarm_query LIMIT {limit + 1}"


def _quoted(identifier: str) -> str:
    return identifier.replace('"', '""')


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
