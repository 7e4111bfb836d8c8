"""The coordinator API's reads, queue, control and read-only SQL through a real HTTP server, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.api_kit import ApiWorld, api_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path) as w:
        yield w


def test_health_needs_no_token(world: ApiWorld) -> None:
    with world.client(None) as anyone:
        assert anyone.get("/health").json() == {"status": "ok", "database": "ok", "version": "test"}


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/sessions", "/api/v1/sessions/5e5510/history", "/api/v1/events",
                                  "/api/v1/fleet", "/metrics"])
def test_reads_take_the_admin_token(world: ApiWorld, path: str) -> None:
    with world.client(None) as anyone, world.client("not-the-token") as wrong, world.client(world.tokens["drone-1"]) as drone:
        for client in (anyone, wrong, drone):
            response = client.get(path)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert "admin token" in response.json()["error"]
    with world.client() as admin:
        assert admin.get(path).status_code == 200


def test_public_status_opens_reads_but_not_writes(tmp_path: Path) -> None:
    with api_world(tmp_path, public_status=True) as world, world.client(None) as anyone:
        status = anyone.get("/api/v1/status").json()
        assert (status["session"], status["planned"], status["counts"]["dispatched"]) == ("5e5510", 5, 2)
        assert anyone.post("/api/v1/queue", json={"atoms": ["app-misc/tmux"]}).status_code == 401
        assert anyone.post("/api/v1/sql", json={"query": "SELECT 1"}).status_code == 401


def test_sessions_history_events_and_fleet(world: ApiWorld) -> None:
    with world.client() as admin:
        assert [s["session"] for s in admin.get("/api/v1/sessions").json()] == ["5e5510"]
        history = admin.get("/api/v1/sessions/5e5510/history").json()
        assert {a["state"] for a in history} == {"dispatched"} and len(history) == 2
        assert {p["cpv"] for p in admin.get("/api/v1/sessions/5e5510/packages").json()} >= {"sys-libs/base-1", "app-misc/app-1"}
        assert any(e["kind"] == "session.planned" for e in admin.get("/api/v1/events", params={"session": "5e5510"}).json())
        assert {d["name"] for d in admin.get("/api/v1/fleet").json()} == {"drone-1", "drone-2"}
        missing = admin.get("/api/v1/sessions/abcdef")
        assert missing.status_code == 404 and missing.json() == {"error": "no session abcdef; list them at /api/v1/sessions"}
        assert admin.get("/api/v1/sessions/not-hex!").status_code == 422


def test_queue_creates_a_session_and_asks_the_coordinator_to_plan_it(world: ApiWorld) -> None:
    with world.client() as admin:
        response = admin.post("/api/v1/queue", json={"atoms": ["app-misc/tmux", ">=dev-libs/foo-1.2"], "priority": 10, "arch": "arm64"})
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued | {"session": "?"} == {"session": "?", "atoms": ["app-misc/tmux", ">=dev-libs/foo-1.2"], "priority": 10,
                                             "arch": "arm64", "rebuild": False}
        assert world.messenger.plans == [queued["session"]]
        assert admin.get(f"/api/v1/sessions/{queued['session']}").json()["state"] == "planning"
        assert world.store.get_session(queued["session"]).reuse  # type: ignore[union-attr]  # skips what the binhost holds
        forced = admin.post("/api/v1/queue", json={"atoms": ["app-misc/tmux"], "rebuild": True}).json()
        assert forced["rebuild"] and not world.store.get_session(forced["session"]).reuse  # type: ignore[union-attr]
        bad = admin.post("/api/v1/queue", json={"atoms": ["tmux; rm -rf /"]})
        assert bad.status_code == 400 and "is not a package atom" in bad.json()["error"]
        assert admin.post("/api/v1/queue", json={"atoms": []}).status_code == 422
    assert len(world.messenger.plans) == 2  # nothing queued for the refused requests


def test_control_waits_for_the_coordinators_answer(world: ApiWorld) -> None:
    with world.client() as admin:
        paused = admin.post("/api/v1/control", json={"action": "pause", "drone": "drone-2"})
        assert paused.status_code == 200 and paused.json()["ok"] and "drone-2" in paused.json()["outcome"]
        refused = admin.post("/api/v1/control", json={"action": "unground"})
        assert refused.status_code == 400 and refused.json()["error"] == "unground needs --drone NAME (see `build-swarm fleet`)"
        failed = admin.post("/api/v1/control", json={"action": "cancel", "session": "abc123"})
        assert failed.status_code == 200 and not failed.json()["ok"] and "no session abc123" in failed.json()["outcome"]
        assert admin.post("/api/v1/control", json={"action": "explode"}).status_code == 422


def test_sql_reads_and_the_database_refuses_writes_sqlite(world: ApiWorld) -> None:
    check_read_only_sql(world)


def test_sql_on_postgres_runs_as_a_read_only_role(tmp_path: Path, pg_url: str) -> None:
    admin_engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    role = f"swarm_ro_{pg_url.rsplit('_', 1)[1]}"
    with api_world(tmp_path, database_url=pg_url, sql_url=pg_url.replace("postgres@", f"{role}@")) as world:
        with admin_engine.connect() as conn:  # the README's two lines: a login role that may only read
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        try:
            check_read_only_sql(world)
        finally:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
    admin_engine.dispose()


def test_sql_on_postgres_without_a_read_only_role_is_off(tmp_path: Path, pg_url: str) -> None:
    with api_world(tmp_path, database_url=pg_url) as world, world.client() as admin:
        off = admin.post("/api/v1/sql", json={"query": "SELECT 1"})
        assert off.status_code == 503 and "SWARM_SQL_DATABASE_URL" in off.json()["error"]


def check_read_only_sql(world: ApiWorld) -> None:
    with world.client() as admin:
        found = admin.post("/api/v1/sql", json={"query": "SELECT cpv, state FROM packages ORDER BY merge_index", "limit": 2}).json()
        assert found["columns"] == ["cpv", "state"] and len(found["rows"]) == 2 and found["truncated"] is True
        for write in ("DELETE FROM packages", "UPDATE packages SET state = 'published'", "DROP TABLE events",
                      "SELECT 1; DELETE FROM packages", "COMMIT; DELETE FROM packages",
                      "WITH gone AS (DELETE FROM packages RETURNING cpv) SELECT * FROM gone"):
            refused = admin.post("/api/v1/sql", json={"query": write})
            assert refused.status_code == 400, (write, refused.text)
            assert refused.json()["error"].startswith(("the database refused the query", "the query returned no rows")), refused.text
        assert admin.post("/api/v1/sql", json={"query": "SELECT count(*) FROM packages"}).json()["rows"] == [[5]]
        assert admin.post("/api/v1/sql", json={"query": "SELECT * FROM nowhere"}).status_code == 400
