"""The API's build profiles and snapshots: reads, a sync, and each refusal with its status and one-line reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.domain.snapshots import Snapshot
from tests.integration.api_kit import ApiWorld, api_world

DESK = BuildProfile("desk", Mode.DISTRIBUTION, "amd64", "default/linux/amd64/23.0/systemd", ("/repo",), world=("app-misc/app",))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path) as w:
        w.store.save_profile(DESK, create=True)
        yield w


def test_profiles_and_snapshots_are_read_with_the_token(world: ApiWorld) -> None:
    client = world.client()
    assert client.get("/api/v1/profiles").json() == [DESK.to_json()]
    assert client.get("/api/v1/profiles/desk").json() == DESK.to_json()
    missing = client.get("/api/v1/profiles/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "no build profile named nope; list them at /api/v1/profiles"})
    assert client.get("/api/v1/profiles/Not%20A%20Name").status_code == 422
    world.store.add_snapshot(Snapshot("ab12", 1.0, "/repo", "fp", "ab12" * 16, "/s/ab12.tar.gz", 2048, 7, "first snapshot of this tree"))
    assert [s["id"] for s in client.get("/api/v1/snapshots", params={"tree": "/repo"}).json()] == ["ab12"]
    assert client.get("/api/v1/snapshots", params={"tree": "/elsewhere"}).json() == []
    assert world.client(token=None).get("/api/v1/profiles").status_code == 401


def test_a_sync_queues_a_session_of_the_profile_and_a_second_waits_for_it(world: ApiWorld) -> None:
    client = world.client()
    synced = client.post("/api/v1/profiles/desk/sync")
    assert synced.status_code == 202
    session = synced.json()["session"]
    assert synced.json() == {"build_profile": "desk", "profile": "desk", "session": session, "full": False}  # profile: deprecated alias
    assert world.messenger.plans == [session]
    info = world.store.get_session(session)
    assert info is not None and info.build_profile == "desk" and info.reuse
    busy = client.post("/api/v1/profiles/desk/sync", params={"full": "true"})
    assert busy.status_code == 409
    assert busy.json()["error"].startswith(f"profile desk: session {session} is still running; wait for it")
    assert world.messenger.plans == [session]


def test_a_sync_is_refused_without_the_admin_token_for_an_unknown_profile_or_unreadable_inputs(world: ApiWorld, tmp_path: Path) -> None:
    assert world.client(token=None).post("/api/v1/profiles/desk/sync").status_code == 401
    unknown = world.client().post("/api/v1/profiles/nope/sync")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "no build profile named nope; list them at /api/v1/profiles"})
    world.store.save_profile(BuildProfile("lap", Mode.USER, "amd64", DESK.gentoo_profile, ("/repo",),
                                          machine_root=str(tmp_path / "unmounted")), create=True)
    unreadable = world.client().post("/api/v1/profiles/lap/sync")
    assert unreadable.status_code == 400
    assert unreadable.json() == {"error": f"profile lap: the machine root {tmp_path / 'unmounted'} does not exist"}
    assert world.messenger.plans == []
