"""Worker node names carry their role, and the fleet probe matches ping replies to drones by name: a live swarm on a real
Redis with the coordinator's worker and a drone named after this host (the name a drone left with its default gets)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery import bootstrap
from swarm_celery.domain.model import DroneIdentity
from tests.integration.swarm_kit import Swarm, live_swarm

HOST = socket.gethostname().split(".")[0]


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_HEARTBEAT="1")


def _nodes(swarm: Swarm) -> set[str]:
    replies = bootstrap.celery_app(swarm.settings).control.ping(timeout=2.0) or []
    return {node.split("@", 1)[0] for reply in replies for node in reply}


def _answered(swarm: Swarm) -> dict[str, bool]:
    run = swarm.cli("fleet", "probe", "--json")
    assert run.code == 0, run.stderr
    return {check["drone"]: check["answered"] for check in run.json()}


def test_the_coordinator_and_a_drone_named_after_the_host_have_their_own_node_names(swarm: Swarm) -> None:
    swarm.start_drones(["live", HOST])
    assert _nodes(swarm) == {"coordinator", "drone.live", f"drone.{HOST}"}


def test_the_probe_sees_the_live_drone_every_time_and_never_mistakes_another_worker_for_a_silent_one(swarm: Swarm) -> None:
    swarm.start_drones(["live", HOST])
    # the drone named after the host stops; "ghost" announced itself once and never ran: both are silent now
    named_after_host = next(w for w in swarm.stack.workers if w.name == HOST)
    named_after_host.process.send_signal(signal.SIGTERM)
    named_after_host.process.wait(timeout=30)
    swarm.stack.workers.remove(named_after_host)
    swarm.store.register_drone(DroneIdentity(name="ghost", arch="amd64", cores=2, memory_mb=1024, disk_free_mb=1024, slots=1))
    for _ in range(3):
        assert _answered(swarm) == {"live": True, HOST: False, "ghost": False}
