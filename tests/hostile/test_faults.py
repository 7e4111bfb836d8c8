"""Faults that must say what happened: a full disk on the coordinator, a damaged record, a bad fleet host, an impatient
control request. Full disks are real: a tiny tmpfs mounted where the coordinator writes."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from swarm_celery.bootstrap.api import api_app
from swarm_celery.domain.fleet import DroneHost
from swarm_celery.domain.model import DroneIdentity, Outcome
from swarm_celery.domain.uploads import upload_ref
from swarm_celery.errors import RecordFull
from swarm_celery.services.fleet import FleetDoctor
from swarm_celery.settings import Settings
from swarm_celery.store.memory import MemoryStore
from tests.conftest import unavailable
from tests.coordinator_kit import FakeClock, World, identity, make_world, success
from tests.integration.api_kit import api_world, make_request
from tests.integration.demo_kit import cli_env, run_cli
from tests.integration.test_api_uploads import put_artifact


@contextmanager
def full_disk(where: Path, size: str = "256k", left: int = 16) -> Iterator[Path]:
    """``where`` on a tmpfs of ``size``, filled up but for ``left`` KiB."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={where / 'filler'}", "bs=1k"], capture_output=True, check=False)
        (where / "filler").unlink()
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={where / 'filler'}", "bs=1k", f"count={int(size[:-1]) - left}"], capture_output=True, check=False
        )
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_an_upload_to_a_full_coordinator_is_a_json_507_and_the_build_counts_against_no_one(tmp_path: Path) -> None:
    with api_world(tmp_path / "home") as world, full_disk(tmp_path / "home" / "uploads"):
        request, drone = world.build()
        gpkg = world.gpkg(request)
        with (gpkg.parent / "big").open("wb") as big:
            big.write(gpkg.read_bytes() + b"\0" * (64 << 10))  # larger than what is left
        status, body = put_artifact(world, drone, request.attempt_id, gpkg.parent / "big", name=gpkg.name)
        assert status == 507 and "the coordinator's disk is full" in str(body["error"])
        tail = (
            "build-swarm: upload failed: build-swarm: the coordinator's disk is full (HTTP 507): "
            f"{gpkg.name} could not be uploaded after 5 tries"
        )
        world.coordinator.build_finished(replace(success(request, drone), outcome=Outcome.FAILED, log_tail=tail, artifact_path=""))
        attempt = next(a for a in world.queries.history("5e5510") if a.attempt == request.attempt_id)
        assert attempt.outcome == "cancelled"  # neither the package's failure nor the drone's
        assert world.store.failures(world.store.find_packages(request.cpv, "5e5510")[0].id) == []
        assert any(e.kind == "coordinator.disk_full" for e in world.queries.events(None, 100))


def test_a_full_binhost_fails_the_publication_as_the_coordinators_fault(tmp_path: Path) -> None:
    with api_world(tmp_path / "home") as world:
        request, drone = world.build()
        gpkg = world.gpkg(request)
        put_artifact(world, drone, request.attempt_id, gpkg)
        with full_disk(tmp_path / "home" / "binhost" / "amd64", "64k", left=0):
            world.coordinator.build_finished(
                replace(
                    success(request, drone),
                    artifact_path=upload_ref(request.attempt_id, gpkg.name),
                    sha256=hashlib.sha256(gpkg.read_bytes()).hexdigest(),
                )
            )
        events = [e.message for e in world.queries.events(None, 100) if e.kind == "coordinator.disk_full"]
        assert events and "the coordinator's disk is full" in events[0]
        assert world.store.failures(world.store.find_packages(request.cpv, "5e5510")[0].id) == []


def test_a_heartbeat_the_record_cannot_take_keeps_its_builds_leases(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.reconfigure(offline_after=30.0, lease=20.0)
    world.coordinator.plan("s1")
    running = world.dispatcher.take()
    for request in running:
        world.coordinator.build_started(request.attempt_id, "drone-1", "amd64", world.clock.now())
    full = FullRecord(world)
    for _ in range(4):  # 60 s of heartbeats the record could not write
        world.clock.t += 15
        with pytest.raises(RecordFull):
            world.coordinator.drone_hello(replace(identity("drone-1"), running=tuple(r.attempt_id for r in running)))
    full.undo()
    assert world.coordinator.reclaim() == 0  # the builds are alive: their drone kept naming them


class FullRecord:
    def __init__(self, world: World) -> None:
        self.world = world
        self.real = world.store.register_drone

        def refuse(identity: DroneIdentity) -> None:
            raise RecordFull("the record cannot be written: its disk is full")

        world.store.register_drone = refuse  # type: ignore[method-assign]

    def undo(self) -> None:
        self.world.store.register_drone = self.real  # type: ignore[method-assign]


def test_a_damaged_record_is_one_line_in_status_and_history_and_health_says_so(tmp_path: Path, portage_cache: Path) -> None:
    env = cli_env(tmp_path / "home", portage_cache)
    assert run_cli(["demo", "--drones", "1", "--time-scale", "0", "--json"], env | {"SWARM_BROKER_URL": ""}).code == 0
    db = tmp_path / "home" / "swarm.db"
    with sqlite3.connect(db) as plain:
        roots = [r for (r,) in plain.execute("SELECT rootpage FROM sqlite_master WHERE name IN ('packages', 'attempts')")]
        size = plain.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    for root in roots:  # the tables status and history read; the schema and the migrations' table stay whole
        start = (root - 1) * size
        data[start + 8 : start + size] = b"\xff" * (size - 8)
    db.write_bytes(bytes(data))
    for command in (["status"], ["history"]):
        run = run_cli(command, env)
        assert run.code == 4 and run.stderr.startswith("error: the record") and "damaged" in run.stderr, run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    settings = Settings.from_env(env | {"SWARM_BROKER_URL": "redis://127.0.0.1:1/0"})  # never reached by /health
    with TestClient(api_app(settings, make_request)) as anyone:  # the real app over the damaged record
        health = anyone.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "degraded", health.text
        assert "restore it from a backup" in health.text


def test_a_host_with_user_and_port_in_it_is_one_line_and_a_broken_host_is_its_own_row(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[drones.d1]\nhost = "user@h:2222"\n')
    run = run_cli(
        ["fleet", "probe", "--no-ping"], {"PATH": "/usr/bin:/bin", "SWARM_HOME": str(tmp_path / "home"), "SWARM_FLEET_FILE": str(fleet)}
    )
    assert run.code == 2 and "host = 'user@h:2222' is not a host name or an address" in run.stderr

    class Exploding:
        def run(self, host: DroneHost, command: str, timeout: float) -> tuple[int, str, str]:
            if host.name == "bad":
                raise KeyError("something deep inside the SSH library")
            return 0, "load=0.1 0.2 0.3\n", ""

    store = MemoryStore(FakeClock())
    inventory = {name: DroneHost(name=name, host=f"{name}.lan") for name in ("bad", "good")}
    checks = FleetDoctor(store, Exploding(), FakeClock(), inventory).probe_round()
    assert [(c.name, c.reachable) for c in checks] == [("bad", False), ("good", True)]
    assert "the probe failed (KeyError" in checks[0].error


def test_a_control_that_does_not_wait_is_accepted_with_202(tmp_path: Path) -> None:
    with api_world(tmp_path / "home") as world, world.client() as admin:
        world.messenger.controller = None  # the coordinator is busy: nothing answers now
        world.messenger.send_control = lambda request: None  # type: ignore[method-assign]
        queued = admin.post("/api/v1/control", json={"action": "pause", "wait": 0})
        assert queued.status_code == 202 and queued.json()["ok"] and queued.json()["outcome"].startswith("queued")
        later = admin.post("/api/v1/control", json={"action": "pause", "wait": 0.2})
        assert later.status_code == 202
