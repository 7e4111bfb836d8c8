"""A live local swarm for integration tests: real Redis, a real coordinator worker, real drone workers.

The plan is the shipped synthetic tree (48 packages) resolved by real portage.
Each test gets its own SWARM_HOME (SQLite database, binhost) and its own Redis
database number, flushed first, so no message of an earlier test can reach it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from swarm_celery import bootstrap
from swarm_celery.domain.views import PackageView
from swarm_celery.local.stack import LocalStack
from swarm_celery.resolve.inputs import build_request, default_profile
from swarm_celery.resolve.synthetic import synthetic_world, write_synthetic_repo
from swarm_celery.settings import Settings
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.integration.demo_kit import Run, cli_env, run_cli

TEST_REDIS_DB = 7


def fresh_redis(base_url: str) -> str:
    url = base_url.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@dataclass
class Swarm:
    settings: Settings
    stack: LocalStack
    store: SqlStore
    env: dict[str, str]
    supervise: bool = False  # start again a worker that dies, as a service manager would (LocalStack.revive)

    @property
    def queries(self) -> Queries:
        return Queries(self.store.engine)

    def start_drones(self, names: list[str], extra: dict[str, str] | None = None) -> None:
        for name in names:
            self.stack.start(name, "drone", {"SWARM_DRONE_NAME": name, **(extra or {})})
        self.wait(lambda: {d.name for d in self.queries.fleet() if d.state == "online"} >= set(names), 30, "drones announced")

    def new_session(self) -> str:
        repo = write_synthetic_repo(self.settings.home / "synthetic-repo")
        request = build_request([repo], default_profile("amd64"), "amd64", tuple(synthetic_world()), None)
        session_id = bootstrap.session_queue(self.settings).queue(request)
        self.wait(lambda: self.state(session_id) != "planning", 120, "the plan")
        return session_id

    def state(self, session_id: str) -> str:
        info = self.queries.session(session_id)
        return info.state if info else "missing"

    def packages(self, session_id: str) -> dict[str, PackageView]:
        return {p.cpv: p for p in self.queries.packages(session_id)}

    def cli(self, *args: str) -> Run:
        return run_cli(list(args), self.env, timeout=120)

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            if self.supervise:
                _, dead = self.stack.revive()
            else:
                dead = self.stack.dead()
            assert not dead, f"worker died: {[(w.name, w.log.read_text()[-2000:]) for w in dead]}"
            time.sleep(0.05)
        recent = "\n".join(f"  {e.kind} {e.subject}: {e.message}" for e in reversed(self.queries.events(None, 25)))
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; the newest events:\n{recent}")


def live_swarm(home: Path, portage_cache: Path, redis_base: str, **settings_env: str) -> Iterator[Swarm]:
    env = cli_env(home, portage_cache, SWARM_BROKER_URL=fresh_redis(redis_base), **settings_env)
    settings = Settings.from_env(env)
    stack = LocalStack(env=settings.to_env(), logs=settings.logs_dir)
    store = bootstrap.store(settings)
    stack.start("coordinator", "coordinator")
    try:
        yield Swarm(settings, stack, store, env | settings.to_env())
    finally:
        stack.stop(grace=5)
