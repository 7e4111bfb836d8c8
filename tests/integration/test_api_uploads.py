"""Artifact and log uploads through a real HTTP server: one clear error for each bad upload, nothing stored, nothing lost."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.domain.model import PackageState
from swarm_celery.domain.uploads import UploadLimits, upload_ref
from swarm_celery.drone.upload import HttpUploader
from swarm_celery.errors import UploadFailed
from swarm_celery.resolve.build_config import build_config
from tests.coordinator_kit import REQUEST, success
from tests.integration.api_kit import ADMIN, ApiWorld, api_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path, limits=UploadLimits(artifact_bytes=64 * 1024, log_bytes=4096)) as w:
        yield w


def put_artifact(world: ApiWorld, drone: str | None, attempt: str, path: Path, sha256: str | None = None,
                 name: str | None = None) -> tuple[int, dict[str, object]]:
    data = path.read_bytes()
    headers = {"X-Swarm-Sha256": sha256 or hashlib.sha256(data).hexdigest(), "Content-Type": "application/octet-stream"}
    with world.client(world.tokens.get(drone or "", drone)) as client:
        response = client.put(f"/api/v1/artifacts/{attempt}/{name or path.name}", content=data, headers=headers)
    return response.status_code, response.json()


def uploads(world: ApiWorld) -> list[Path]:
    return sorted(p for p in (world.home / "uploads").rglob("*") if p.is_file())


def refused(world: ApiWorld, status: int) -> float:
    with world.client() as admin:
        for line in admin.get("/metrics").text.splitlines():
            if line.startswith(f'swarm_uploads_refused_total{{status="{status}"}}'):
                return float(line.split()[-1])
    return 0.0


def test_an_upload_is_published_by_the_coordinator_and_served_as_the_binhost(world: ApiWorld) -> None:
    request, drone = world.build()
    gpkg = world.gpkg(request)
    status, body = put_artifact(world, drone, request.attempt_id, gpkg)
    digest = hashlib.sha256(gpkg.read_bytes()).hexdigest()
    assert status == 201 and body == {"attempt": request.attempt_id, "name": gpkg.name, "size": gpkg.stat().st_size, "sha256": digest}
    world.coordinator.build_finished(replace(success(request, drone), artifact_path=upload_ref(request.attempt_id, gpkg.name), sha256=digest))
    assert {p.cpv: p.state for p in world.queries.packages("5e5510")}[request.cpv] == "published"
    with world.client(None) as anyone:
        index = anyone.get("/binhost/amd64/Packages")
        assert index.status_code == 200 and f"CPV: {request.cpv}" in index.text
        served = anyone.get(f"/binhost/amd64/{request.cpv.split('/')[0]}/{request.cpv.split('/')[1].rsplit('-', 1)[0]}/{gpkg.name}")
        assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == digest
        assert anyone.get("/binhost/../swarm.db").status_code == 404
        assert (world.home / "binhost" / "amd64" / ".Packages.offsets").is_file()
        assert anyone.get("/binhost/amd64/.Packages.offsets").status_code == 404  # no dot-file is served
    assert uploads(world) == []  # the upload area is emptied once the file is in the tree


@pytest.mark.parametrize("token", [None, "wrong-token", "bsd_forged", ADMIN])
def test_a_missing_or_wrong_token_is_401_and_stores_nothing(world: ApiWorld, token: str | None) -> None:
    request, _ = world.build()
    status, body = put_artifact(world, token, request.attempt_id, world.gpkg(request))
    assert status == 401 and "drone token" in str(body["error"])
    assert uploads(world) == []


def test_another_drones_token_is_403(world: ApiWorld) -> None:
    request, drone = world.build()
    other = "drone-2" if drone == "drone-1" else "drone-1"
    status, body = put_artifact(world, other, request.attempt_id, world.gpkg(request))
    assert status == 403 and f"given to {drone}, not to {other}" in str(body["error"])
    assert uploads(world) == []


def test_a_wrong_sha256_is_400_and_leaves_no_partial_file(world: ApiWorld) -> None:
    request, drone = world.build()
    status, body = put_artifact(world, drone, request.attempt_id, world.gpkg(request), sha256="0" * 64)
    assert status == 400 and str(body["error"]).startswith("sha256 mismatch: the upload hashes to")
    assert uploads(world) == [] and not list((world.home / "uploads").rglob(".*.part"))


def test_an_oversized_upload_is_413(world: ApiWorld) -> None:
    request, drone = world.build()
    big = world.home / "big" / "base-1-1.gpkg.tar"
    big.parent.mkdir()
    big.write_bytes(b"x" * (64 * 1024 + 1))
    status, body = put_artifact(world, drone, request.attempt_id, big)
    assert status == 413 and "over the limit of 65536 bytes" in str(body["error"])
    assert uploads(world) == []


def test_a_truncated_upload_stores_nothing_and_the_completion_fails_as_infrastructure(world: ApiWorld) -> None:
    request, drone = world.build()
    gpkg = world.gpkg(request)
    data = gpkg.read_bytes()
    host, port = world.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:  # announces the whole file, sends half, hangs up
        raw.sendall((f"PUT /api/v1/artifacts/{request.attempt_id}/{gpkg.name} HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {world.tokens[drone]}\r\nX-Swarm-Sha256: {hashlib.sha256(data).hexdigest()}\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n").encode() + data[: len(data) // 2])
    deadline = time.monotonic() + 10
    while refused(world, 400) < 1 and time.monotonic() < deadline:  # the server saw the connection close mid-body
        time.sleep(0.05)
    assert refused(world, 400) == 1
    assert uploads(world) == [] and not list((world.home / "uploads").rglob(".*.part"))
    world.coordinator.build_finished(replace(success(request, drone), artifact_path=upload_ref(request.attempt_id, gpkg.name),
                                             sha256=hashlib.sha256(data).hexdigest()))
    attempt = next(a for a in world.queries.history("5e5510") if a.attempt == request.attempt_id)
    assert (attempt.outcome, attempt.failure_kind, attempt.infrastructure) == ("failed", "artifact", True)
    assert "never arrived whole" in str(attempt.error)
    assert not (world.home / "binhost" / "amd64" / "Packages").exists()  # nothing published


def test_a_gpkg_naming_another_package_is_refused_at_publication(world: ApiWorld) -> None:
    request, drone = world.build()
    impostor = world.gpkg(request, cpv="app-misc/evil-1")
    status, _ = put_artifact(world, drone, request.attempt_id, impostor, name=impostor.name)
    assert status == 201  # the bytes are what the drone said; what they are is checked before publishing
    digest = hashlib.sha256(impostor.read_bytes()).hexdigest()
    world.coordinator.build_finished(replace(success(request, drone), artifact_path=upload_ref(request.attempt_id, impostor.name),
                                             sha256=digest))
    attempt = next(a for a in world.queries.history("5e5510") if a.attempt == request.attempt_id)
    assert attempt.failure_kind == "artifact" and f"holds app-misc/evil-1, but {request.cpv} was asked for" in str(attempt.error)
    assert not (world.home / "binhost" / "amd64" / "Packages").exists()


@pytest.mark.parametrize(("attempt", "name", "status"), [
    ("..", "x.gpkg.tar", 404),
    ("%2e%2e%2f%2e%2e", "x.gpkg.tar", 404),
    ("ATTEMPT", "..%2F..%2Fswarm.db", 404),  # %2F is a path separator by the time routes match: no route
    ("ATTEMPT", "%2e%2e.gpkg.tar", 400),
    ("ATTEMPT", ".hidden.gpkg.tar", 400),
    ("ATTEMPT", "base-1-1.tbz2", 400),
    ("ATTEMPT", "a%00b.gpkg.tar", 400),
])
def test_path_traversal_and_bad_names_are_refused(world: ApiWorld, attempt: str, name: str, status: int) -> None:
    request, drone = world.build()
    gpkg = world.gpkg(request)
    target = attempt.replace("ATTEMPT", request.attempt_id)
    with world.client(world.tokens[drone]) as client:
        response = client.put(f"/api/v1/artifacts/{target}/{name}", content=gpkg.read_bytes(),
                              headers={"X-Swarm-Sha256": hashlib.sha256(gpkg.read_bytes()).hexdigest()})
    assert response.status_code == status, response.text
    assert uploads(world) == [] and not (world.home / "swarm.db.gpkg.tar").exists()
    with world.client() as admin:
        assert admin.get("/api/v1/logs/..%2F..%2Fswarm.db").status_code == 404


def test_an_upload_for_a_taken_back_attempt_is_409(world: ApiWorld) -> None:
    request, drone = world.build()
    world.store.fence_attempts([request.attempt_id], PackageState.NEEDED, "taken back by a test")
    status, body = put_artifact(world, drone, request.attempt_id, world.gpkg(request))
    assert status == 409 and "stale upload is discarded" in str(body["error"])
    assert uploads(world) == []


def test_build_logs_are_uploaded_then_read_back(world: ApiWorld) -> None:
    request, drone = world.build()
    log = world.home / "emerge.log"
    log.write_text(">>> Emerging (1 of 1) sys-libs/base-1::gentoo\n>>> Completed\n")
    with world.client(world.tokens[drone]) as client:
        response = client.put(f"/api/v1/logs/{request.attempt_id}", content=log.read_bytes())
        assert response.status_code == 201, response.text
        assert client.get(f"/api/v1/logs/{request.attempt_id}").status_code == 401  # reading takes the admin token
    with world.client() as admin:
        got = admin.get(f"/api/v1/logs/{request.attempt_id}")
        assert got.status_code == 200 and got.text == log.read_text() and got.headers["content-type"].startswith("text/plain")
    with world.client(world.tokens[drone]) as client:
        too_big = client.put(f"/api/v1/logs/{request.attempt_id}", content=b"x" * 5000)
        assert too_big.status_code == 413


def test_heartbeats_only_for_the_tokens_own_drone(world: ApiWorld) -> None:
    beat = {"arch": "amd64", "cores": 8, "memory_mb": 16000, "disk_free_mb": 90000, "slots": 2, "profile": "default/linux/amd64/23.0"}
    with world.client(world.tokens["drone-1"]) as client:
        assert client.post("/api/v1/drones/drone-1/heartbeat", json=beat).status_code == 202
        refused = client.post("/api/v1/drones/drone-2/heartbeat", json=beat)
        assert refused.status_code == 403 and "belongs to drone-1" in refused.json()["error"]
    assert [(h.name, h.slots, h.gentoo_profile) for h in world.messenger.hellos] == [("drone-1", 2, "default/linux/amd64/23.0")]


def test_metrics_count_uploads(world: ApiWorld) -> None:
    request, drone = world.build()
    put_artifact(world, drone, request.attempt_id, world.gpkg(request))
    put_artifact(world, "nope", request.attempt_id, world.gpkg(request))
    with world.client() as admin:
        text = admin.get("/metrics").text
    assert 'swarm_uploads_accepted_total{kind="artifact"} 1.0' in text
    assert 'swarm_packages{session="5e5510",state="dispatched"}' in text
    assert 'swarm_drone_slots{drone="drone-1"} 1.0' in text


def test_a_drone_fetches_the_plans_configuration_by_its_hash(world: ApiWorld) -> None:
    expected = build_config(REQUEST)
    drone = HttpUploader(world.url, world.tokens["drone-1"], tries=1)
    assert drone.build_config(expected.digest()) == expected  # what a prefix drone lays out and builds with
    with pytest.raises(UploadFailed, match="HTTP 404: no build configuration 0000"):
        drone.build_config("0" * 24)
    with pytest.raises(UploadFailed, match="HTTP 401: this needs a drone token"):
        HttpUploader(world.url, ADMIN, tries=1).build_config(expected.digest())
    with world.client(world.tokens["drone-1"]) as client:
        assert client.get("/api/v1/build-configs/..%2F..%2Fswarm.db").status_code in (400, 404)
        assert client.get("/api/v1/build-configs/NOT-A-HASH").status_code == 400
