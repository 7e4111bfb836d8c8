"""How the demo picks its broker (DESIGN.md decision 8: nothing to install by hand)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swarm_celery.errors import BrokerError
from swarm_celery.local import broker as broker_module
from swarm_celery.local.broker import choose_broker


def test_given_url_is_checked_and_unreachable_redis_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=r"cannot reach the broker redis://127\.0\.0\.1:1/0.*unset SWARM_BROKER_URL"):
        choose_broker("redis://127.0.0.1:1/0", tmp_path)


def test_no_redis_server_falls_back_to_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_module.shutil, "which", lambda name: None)
    chosen = choose_broker("", tmp_path)
    assert (chosen.url, chosen.kind) == ("filesystem://", "filesystem")
    assert (tmp_path / "broker").is_dir()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_private_redis_server_is_started_and_stopped(tmp_path: Path) -> None:
    import redis

    chosen = choose_broker("", tmp_path)
    try:
        assert chosen.kind == "redis-server"
        assert redis.Redis.from_url(chosen.url).ping()
    finally:
        chosen.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(chosen.url, socket_connect_timeout=1).ping()
