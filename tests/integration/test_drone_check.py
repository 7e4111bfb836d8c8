"""`build-swarm drone --check` asks over the network: a real Redis with a password (and a port where none listens), a
real coordinator API on uvicorn (and a port where none listens), the drone's token right, wrong and another drone's."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.api_kit import ApiWorld, api_world, free_port
from tests.integration.demo_kit import run_cli
from tests.integration.deploy_kit import need
from tests.integration.test_drone_cmd import bare_env, drone_conf

PASSWORD = "s3cret-broker"


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[int]:
    """A private redis-server that needs a password."""
    port = free_port()
    server = subprocess.Popen([need("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, password=PASSWORD).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield port
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path / "coordinator") as world:
        yield world


def _check(tmp_path: Path, **conf: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    run = run_cli(["drone", "--config", str(drone_conf(tmp_path, **conf)), "--name", "drone-1", "--check", "--json"], bare_env(tmp_path))
    checks = {c["check"]: (c["status"], c["message"]) for c in run.json()["checks"]} if run.stdout else {}
    return run.code, checks, run.stderr


def test_a_dead_broker_and_a_dead_coordinator_fail_the_check_each_named(tmp_path: Path) -> None:
    code, checks, err = _check(tmp_path, broker=f"redis://127.0.0.1:{free_port()}/0", SWARM_COORDINATOR_URL=f"http://127.0.0.1:{free_port()}",
                               SWARM_DRONE_TOKEN="bsd_x")
    assert code == 1 and "2 of 2 checks failed (broker, coordinator)" in err, err
    assert checks["broker"][0] == "FAIL" and "cannot reach redis://127.0.0.1:" in checks["broker"][1]
    assert checks["coordinator"][0] == "FAIL" and "is `build-swarm coordinator` running there" in checks["coordinator"][1]


@pytest.mark.parametrize(("password", "status", "message"), [
    ("", "FAIL", "needs a password"),
    ("wrong", "FAIL", "refused the password"),
    (PASSWORD, "PASS", "answers"),
])
def test_the_broker_check_tells_a_missing_or_wrong_password(tmp_path: Path, locked_redis: int, password: str, status: str,
                                                           message: str) -> None:
    auth = f":{password}@" if password else ""
    code, checks, _ = _check(tmp_path, broker=f"redis://{auth}127.0.0.1:{locked_redis}/0")
    assert checks["broker"][0] == status and message in checks["broker"][1]
    assert PASSWORD not in checks["broker"][1]
    # without SWARM_COORDINATOR_URL the coordinator check only warns: the exit status is the broker's
    assert checks["coordinator"][0] == "WARN" and code == (0 if status == "PASS" else 1)


def test_the_token_is_checked_with_the_coordinator_that_issued_it(tmp_path: Path, locked_redis: int, api: ApiWorld) -> None:
    broker = f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0"
    code, checks, _ = _check(tmp_path, broker=broker, SWARM_COORDINATOR_URL=api.url, SWARM_DRONE_TOKEN=api.tokens["drone-1"])
    assert code == 0 and checks["token"] == ("PASS", "the coordinator knows it as drone-1's")
    assert checks["coordinator"][0] == "WARN" and "running build-swarm test; this drone runs" in checks["coordinator"][1]
    code, checks, _ = _check(tmp_path, broker=broker, SWARM_COORDINATOR_URL=api.url, SWARM_DRONE_TOKEN="bsd_not-issued")
    assert code == 1 and checks["token"][0] == "FAIL" and "does not know SWARM_DRONE_TOKEN" in checks["token"][1]
    code, checks, _ = _check(tmp_path, broker=broker, SWARM_COORDINATOR_URL=api.url, SWARM_DRONE_TOKEN=api.tokens["drone-2"])
    assert code == 1 and "this token belongs to drone-2, not to drone-1" in checks["token"][1]


def test_a_url_that_is_not_a_coordinator_is_named(tmp_path: Path, locked_redis: int, api: ApiWorld) -> None:
    code, checks, _ = _check(tmp_path, broker=f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0",
                             SWARM_COORDINATOR_URL=f"{api.url}/binhost", SWARM_DRONE_TOKEN=api.tokens["drone-1"])
    assert code == 1 and checks["coordinator"][0] == "FAIL" and "names something else" in checks["coordinator"][1]
