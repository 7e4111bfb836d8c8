"""Shared fixtures: paths to ../shared, a persistent portage metadata cache, real services.

Real-service fixtures fail (not skip) when ``CI`` is set, the way dramatiq's do.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWARM_TEST_SHARED", ROOT.parent / "shared")).resolve()
CI = bool(os.environ.get("CI"))
REDIS_URL = os.environ.get("SWARM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("SWARM_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"required test service unavailable under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "gentoo" / "repo" / "profiles").is_dir():
        unavailable(f"shared Gentoo tree not found at {SHARED} (set SWARM_TEST_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def portage_cache() -> Path:
    """portage's metadata cache and the baseline cache, kept across test runs (never under ../shared)."""
    path = Path(os.environ.get("SWARM_TEST_CACHE", ROOT / ".cache" / "test-portage"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def reachable_redis() -> str:
    """The test Redis's URL once it answers (a module-scoped fixture calls it directly)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        unavailable(f"Redis at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    return reachable_redis()


@contextmanager
def app_on_redis_db(redis_url: str, db: int) -> Iterator[object]:
    """A Celery app on database ``db`` of the test Redis, flushed before and after (a test file's own database)."""
    import redis

    from swarm_celery.app import create_app

    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    redis.Redis.from_url(url).flushdb()
    yield create_app(url, 3600)
    redis.Redis.from_url(url).flushdb()


@contextmanager
def temporary_database(prefix: str) -> Iterator[str]:
    """A new, empty Postgres database (its URL), dropped afterwards; the test fails under CI when there is no server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        unavailable(f"Postgres at {PG_ADMIN_URL}: {exc.orig}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty Postgres database for one test, dropped afterwards."""
    with temporary_database("swarm_test") as url:
        yield url
