"""Bulk inserts for saving a plan: tens of thousands of packages, hundreds of thousands of gates, in seconds.

Rows go straight to the driver inside the caller's transaction: ``COPY ... FROM STDIN`` on
Postgres (psycopg2), one ``executemany`` of plain tuples on SQLite. The ORM's bulk insert
spends most of its time building a parameter dictionary per row.
Any other driver gets SQLAlchemy Core's executemany.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, text
from sqlalchemy.exc import DBAPIError

COPY_CHUNK = 50_000  # rows per COPY buffer: bounds the memory a 250k-row table needs


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``, no None) into ``table`` in the connection's transaction.
    A refused row raises SQLAlchemy's error (IntegrityError, ...), as any statement would."""
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        _copy(conn, f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv)", rows)
    elif conn.dialect.name == "sqlite":
        batch = list(rows)
        if batch:
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})", batch)
    else:
        mappings = [dict(zip(columns, row, strict=True)) for row in rows]
        if mappings:
            conn.execute(table.insert(), mappings)


def _copy(conn: Connection, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY in CSV, every string quoted (so "" stays an empty string, never NULL): no value may be None (leave a
    nullable column out and it takes its default). Sent in chunks of ``COPY_CHUNK`` rows."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    error = conn.dialect.loaded_dbapi.Error
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        source = iter(rows)
        while chunk := list(itertools.islice(source, COPY_CHUNK)):
            writer.writerows(chunk)
            _send(cursor, statement, buffer)
    except error as exc:
        raise DBAPIError.instance(statement, None, exc, error) from exc
    finally:
        cursor.close()


def _send(cursor: Any, statement: str, buffer: io.StringIO) -> None:
    if buffer.tell():
        buffer.seek(0)
        cursor.copy_expert(statement, buffer)
        buffer.seek(0)
        buffer.truncate()


def analyze(conn: Connection, tables: Sequence[str]) -> None:
    """Fresh planner statistics on Postgres after a large insert (SQLite's planner does better without them)."""
    if conn.dialect.name == "postgresql":
        for name in tables:
            conn.execute(text(f"ANALYZE {name}"))


__all__ = ["analyze", "bulk_insert"]
