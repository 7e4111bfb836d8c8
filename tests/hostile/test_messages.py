"""Forged broker messages against a live swarm (real Redis, coordinator and drone workers), sent the way an attacker
with broker access would: a plain ``celery.Celery().send_task``, no project code. Each replays a finding; none may
hurt a drone, hang the coordinator, loop on the queue or leak a file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import celery
import pytest

from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    durations = tmp_path / "durations.csv"
    durations.write_text("package,seconds\n")  # every build takes the default time × the scale: long enough to catch in flight
    yield from live_swarm(
        tmp_path / "home",
        portage_cache,
        redis_url,
        SWARM_TIME_SCALE="0.2",
        SWARM_DURATIONS=str(durations),
        SWARM_RETRY_BACKOFF="0.2",
        SWARM_HEARTBEAT="2",
    )


def attacker(swarm: Swarm) -> celery.Celery:
    return celery.Celery(broker=swarm.settings.broker_url, set_as_current=False)


def events(swarm: Swarm, kind: str) -> list[str]:
    return [f"{e.subject} {e.message}" for e in swarm.queries.events(None, 2000, kind=kind)]


def test_a_build_whose_attempt_id_is_a_path_removes_nothing(swarm: Swarm, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    swarm.start_drones(["d1"])
    forged = {
        "attempt_id": str(victim),
        "session_id": "5e5510",
        "cpv": "app-misc/x-1",
        "arch": "amd64",
        "slot": "0",
        "repo": "gentoo",
        "use": [],
    }
    attacker(swarm).send_task("swarm.build", args=[forged], queue="drone.d1")
    log = swarm.settings.logs_dir / "d1.log"
    swarm.wait(lambda: "build request refused and dropped" in log.read_text(), 30, "the drone to refuse it")
    assert (victim / "keep").read_text() == "precious"
    assert "attempt id" in log.read_text().split("build request refused and dropped", 1)[1].splitlines()[0]


def test_completions_naming_devices_directories_secrets_other_drones_or_uploads_hurt_nothing(swarm: Swarm, tmp_path: Path) -> None:
    swarm.start_drones(["d1", "d2"], {"SWARM_SLOTS": "1"})
    session = swarm.new_session()
    swarm.wait(lambda: sum(a.state in ("dispatched", "started") for a in swarm.queries.history(session)) >= 2, 60, "builds in flight")
    live = [a for a in swarm.queries.history(session) if a.state in ("dispatched", "started")]
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$supersecret:19000::::::\n")
    victims = {"/dev/zero": live[0], str(tmp_path): live[1]}  # a device and a directory, from the attempts' own drones
    app = attacker(swarm)
    for path, attempt in victims.items():
        app.send_task("swarm.build_finished", args=[completion(attempt.attempt, str(attempt.drone), path)], queue="coordinator")
    other = "d2" if live[0].drone == "d1" else "d1"
    app.send_task("swarm.build_finished", args=[completion(live[0].attempt, other, str(secret))], queue="coordinator")
    swarm.wait(lambda: swarm.state(session) == "complete", 180, "the session to complete despite the forgeries")
    failed = {a.attempt: a for a in swarm.queries.history(session) if a.outcome == "failed"}
    assert set(failed) == {live[0].attempt, live[1].attempt}  # each failed once, as an artifact failure, then built again
    assert {a.failure_kind for a in failed.values()} == {"artifact"}
    assert all("not a GPKG in this attempt's staging directory" in str(a.error) for a in failed.values())
    assert any(f"from {other}, but attempt {live[0].attempt} was given to" in e for e in events(swarm, "report.invalid"))
    everything = " ".join(str(e.message) for e in swarm.queries.events(None, 5000))
    assert "supersecret" not in everything and str(secret) not in everything


def completion(attempt_id: str, drone: str, artifact_path: str) -> dict[str, object]:
    return {
        "attempt_id": attempt_id,
        "drone": drone,
        "outcome": "success",
        "artifact_path": artifact_path,
        "sha256": "0" * 64,
        "size": 1,
        "log_tail": "",
        "started_at": time.time(),
        "finished_at": time.time(),
        "simulated": True,
    }


def test_malformed_and_hostile_fields_are_invalid_events_never_retried(swarm: Swarm) -> None:
    swarm.start_drones(["d1"])
    app = attacker(swarm)
    app.send_task("swarm.drone_hello", args=[{"name": "*", "arch": "amd64", "slots": 4}], queue="coordinator")
    app.send_task("swarm.drone_hello", args=[{"name": "evil", "arch": "amd64; rm -rf /", "slots": 4}], queue="coordinator")
    app.send_task("swarm.drone_hello", args=[["not", "an", "object"]], queue="coordinator")
    app.send_task("swarm.build_finished", args=[completion("../../etc", "d1", "/dev/zero")], queue="coordinator")
    app.send_task("swarm.build_finished", args=[completion("a" * 32, "d1", "/x") | {"started_at": float("nan")}], queue="coordinator")
    app.send_task("swarm.control", args=["pause"], queue="coordinator")
    app.send_task("swarm.plan", args=["../../etc/passwd"], queue="coordinator")
    swarm.wait(lambda: len(events(swarm, "report.invalid")) >= 6 and events(swarm, "control.invalid"), 30, "every forgery recorded")
    found = " | ".join(events(swarm, "report.invalid"))
    for expected in (
        "drone name '*' is not valid",
        "arch 'amd64; rm -rf /' is not valid",
        "not a JSON object",
        "attempt id '../../etc' is not valid",
        "started_at nan is out of range",
        "session id '../../etc/passwd'",
    ):
        assert expected in found, (expected, found)
    assert {d.name for d in swarm.queries.fleet()} == {"d1"}  # no drone was made of them
    time.sleep(2)
    assert len(events(swarm, "report.invalid")) == 6  # recorded once each: nothing came back from the queue
