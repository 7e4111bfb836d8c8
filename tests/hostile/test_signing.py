"""Signed messages on a live swarm: a coordinator and two drones, each with its own certificate. The swarm builds as
usual; unsigned messages, and messages a drone signs for someone else, are refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_celery.tasks.signing import create_certificate
from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    root = tmp_path / "certs"
    for name in ("coordinator", "d1", "d2"):
        create_certificate(root / name, name)
    coordinator_store, drone_store = root / "trusted-by-coordinator", root / "trusted-by-drones"
    for store, names in ((coordinator_store, ("coordinator", "d1", "d2")), (drone_store, ("coordinator",))):
        store.mkdir()
        for name in names:
            (store / f"{name}.crt").write_bytes((root / name / f"{name}.crt").read_bytes())
    return root


def signed_as(certs: Path, name: str) -> dict[str, str]:
    store = "trusted-by-coordinator" if name == "coordinator" else "trusted-by-drones"
    return {
        "SWARM_MESSAGE_KEY": str(certs / name / f"{name}.key"),
        "SWARM_MESSAGE_CERT": str(certs / name / f"{name}.crt"),
        "SWARM_MESSAGE_CERTS": str(certs / store),
    }


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str, certs: Path) -> Iterator[Swarm]:
    yield from live_swarm(
        tmp_path / "home", portage_cache, redis_url, SWARM_TIME_SCALE="0.001", SWARM_HEARTBEAT="2", **signed_as(certs, "coordinator")
    )


def forge(swarm: Swarm, certs: Path, as_drone: str | None, task: str, args: str, queue: str = "coordinator") -> None:
    """Send one message from another process (the serializer registry is process-wide): signed with a drone's key, or
    plain JSON when ``as_drone`` is None."""
    setup = (
        ""
        if as_drone is None
        else textwrap.dedent(f"""
        from pathlib import Path
        from swarm_celery.tasks.signing import enable_signing
        enable_signing(app, Path({str(certs / as_drone / f"{as_drone}.key")!r}), Path({str(certs / as_drone / f"{as_drone}.crt")!r}),
                       Path({str(certs / "trusted-by-coordinator")!r}), {as_drone!r})""")
    )
    code = (
        f"import celery\napp = celery.Celery(broker={swarm.settings.broker_url!r}, set_as_current=False)\n{setup}\n"
        f"app.send_task({task!r}, args={args}, queue={queue!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_signed_swarm_builds_and_refuses_what_is_unsigned_or_signed_for_someone_else(swarm: Swarm, certs: Path) -> None:
    for name in ("d1", "d2"):
        swarm.stack.start(name, "drone", {"SWARM_DRONE_NAME": name, **signed_as(certs, name)})
    swarm.wait(lambda: {d.name for d in swarm.queries.fleet() if d.state == "online"} == {"d1", "d2"}, 60, "signed hellos")
    session = swarm.new_session()
    swarm.wait(lambda: swarm.state(session) == "complete", 180, "the signed session")
    attempt = next(a for a in swarm.queries.history(session) if a.drone == "d2")
    hello = '[{"name": "d2", "arch": "amd64", "slots": 64, "cores": 256}]'
    forge(swarm, certs, "d1", "swarm.drone_hello", hello)  # d1 posing as d2
    forge(swarm, certs, "d1", "swarm.build_finished", f'[{{"attempt_id": "{attempt.attempt}", "drone": "d2", "outcome": "failed"}}]')
    forge(swarm, certs, "d1", "swarm.control", '[{"action": "pause", "request_id": "forged"}]')  # a drone playing operator
    forge(swarm, certs, None, "swarm.drone_hello", '[{"name": "intruder", "arch": "amd64", "slots": 64}]')  # unsigned
    forge(
        swarm,
        certs,
        "d1",
        "swarm.build",
        '[{"attempt_id": "' + "b" * 32 + '", "session_id": "5e5510", "cpv": "app-misc/x-1", '
        '"arch": "amd64", "slot": "0", "repo": "gentoo", "use": []}]',
        queue="drone.d2",
    )  # d2 trusts only the coordinator
    invalid = lambda: [e.message for e in swarm.queries.events(None, 2000) if e.kind in ("report.invalid", "control.invalid")]  # noqa: E731
    swarm.wait(lambda: len(invalid()) >= 3, 30, "the forgeries refused")
    found = " | ".join(invalid())
    assert "swarm.drone_hello names drone 'd2' but was signed by 'd1'" in found
    assert "swarm.build_finished names drone 'd2' but was signed by 'd1'" in found
    assert "swarm.control signed by 'd1': only the coordinator's certificate may send it" in found
    log = swarm.settings.logs_dir / "d2.log"
    swarm.wait(lambda: "Unknown certificate" in log.read_text(), 30, "d2 to refuse a build d1 signed")
    fleet = {d.name: d for d in swarm.queries.fleet()}
    assert set(fleet) == {"d1", "d2"} and fleet["d2"].slots != 64  # nothing of the forged hellos was recorded
    assert swarm.cli("control", "resume", "--json").json()["ok"]  # the CLI signs as the coordinator: it is obeyed
