"""The read-only SQL endpoint, tried as an attacker with the admin token would: it must not write, run long or answer big."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.integration.api_kit import api_world


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[httpx.Client]:
    with api_world(tmp_path / "home") as world, world.client() as client:
        client.base_url_home = world.home  # type: ignore[attr-defined]
        yield client


def sql(client: httpx.Client, query: str) -> httpx.Response:
    return client.post("/api/v1/sql", json={"query": query, "limit": 10})


@pytest.mark.parametrize(
    "attack",
    [
        "PRAGMA query_only = OFF",
        "ATTACH 'file:{db}?mode=rw' AS w",
        "VACUUM INTO '{home}/binhost/stolen.db'",
        "SELECT load_extension('/tmp/x')",
        "SELECT randomblob(200000000)",
        "SELECT zeroblob(200000000)",
        "CREATE TEMP TABLE t(x)",
        "INSERT INTO events(ts, kind, message, session_id, subject) VALUES (1, 'x', 'x', NULL, '')",
    ],
)
def test_nothing_is_written_attached_or_copied(admin: httpx.Client, attack: str) -> None:
    home: Path = admin.base_url_home  # type: ignore[attr-defined]
    refused = sql(admin, attack.format(db=home / "swarm.db", home=home))
    assert refused.status_code == 400 and refused.json()["error"].startswith("the database refused the query"), refused.text
    assert not (home / "binhost" / "stolen.db").exists()
    # and the next query on a fresh connection still cannot write (nothing of the attempt stuck to a pooled connection)
    again = sql(admin, "DELETE FROM events")
    assert again.status_code == 400
    assert sql(admin, "SELECT count(*) AS n FROM sessions").json()["rows"] == [[1]]


TENFOLD = "replace({}, '1', '1111111111')"


def grown(times: int) -> str:
    """An SQL expression of the text '1' grown tenfold ``times`` times."""
    expression = "hex(1)"
    for _ in range(times):
        expression = TENFOLD.format(expression)
    return expression


def test_a_huge_value_fails_at_once_and_the_answer_stays_small(admin: httpx.Client) -> None:
    started = time.monotonic()
    printf = sql(admin, "SELECT printf('%.*c', 999999999, 'x')")  # 19 s of CPU before, in one step nothing could stop
    assert printf.status_code == 400 and "not authorized to use function: printf" in printf.json()["error"]
    huge = sql(admin, f"SELECT {grown(9)}")  # a billion characters asked for
    assert huge.status_code == 400 and "too big" in huge.json()["error"]
    assert time.monotonic() - started < 5
    big = " || ".join([grown(5)] * 9)  # 900 KB a row, under the 1 MiB a value may have: ten of them pass the 8 MiB an answer may
    many = sql(admin, f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n, {big} FROM r")
    body = many.json()
    assert many.status_code == 200 and body["truncated"] is True and len(body["rows"]) < 10 and len(many.content) < 10 << 20


def test_a_query_that_never_ends_is_stopped_at_its_deadline(admin: httpx.Client) -> None:
    started = time.monotonic()
    endless = sql(admin, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r")
    assert endless.status_code == 400 and "interrupted" in endless.json()["error"]
    assert time.monotonic() - started < 15


def test_postgres_answers_no_huge_value_and_stops_a_long_query(tmp_path: Path, pg_url: str) -> None:
    admin_engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    role = f"swarm_ro_{pg_url.rsplit('_', 1)[1]}"
    with api_world(tmp_path, database_url=pg_url, sql_url=pg_url.replace("postgres@", f"{role}@")) as world, world.client() as client:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        try:
            huge = sql(client, "SELECT repeat('x', 200000000) AS big, 1 AS small")
            assert huge.status_code == 200 and huge.json()["rows"] == [[None, 1]] and len(huge.content) < 1 << 20
            started = time.monotonic()
            slow = sql(client, "SELECT pg_sleep(60)")
            assert slow.status_code == 400 and "statement timeout" in slow.json()["error"] and time.monotonic() - started < 20
            for write in ("CREATE TABLE t(x int)", "SET default_transaction_read_only = off; DELETE FROM events"):
                assert sql(client, write).status_code == 400
        finally:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
    admin_engine.dispose()
