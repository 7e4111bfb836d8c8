"""Drone workers with the emerge builder through the real stack: real Redis, a real coordinator worker, real drone
worker processes running a fake ``emerge`` that honours the real command line, the synthetic tree resolved by real
portage; portage's own binary-tree code reads what was published.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from swarm_celery import bootstrap
from swarm_celery.drone.process import group_alive, reap_orphans
from swarm_celery.resolve.inputs import build_request, default_profile
from swarm_celery.resolve.synthetic import synthetic_world, write_synthetic_repo
from tests.fakes import install_fake_emerge
from tests.integration.api_kit import free_port
from tests.integration.portage_kit import portage_run
from tests.integration.swarm_kit import Swarm, live_swarm

pytestmark = pytest.mark.slow

HANGS = "sys-libs/zlib"  # a leaf of the synthetic plan: dispatched in the first wave


@pytest.fixture
def swarm(tmp_path: Path, portage_cache: Path, redis_url: str) -> Iterator[Swarm]:
    fake_bin = install_fake_emerge(tmp_path / "fake-bin").parent
    yield from live_swarm(tmp_path, portage_cache, redis_url, SWARM_RETRY_BACKOFF="0.2", SWARM_HEARTBEAT="2",
                          SWARM_BUILDER="emerge", SWARM_EMERGE=str(fake_bin / "emerge"), SWARM_MIN_FREE_MB="1",
                          SWARM_BINHOST_URL=f"file://{tmp_path}/binhost/amd64", SWARM_PORTAGE_TMPDIR=str(tmp_path),
                          SWARM_PKGDIR=str(tmp_path / "pkgdir"))


def drone_env(tmp_path: Path, slots: int) -> dict[str, str]:
    """What the fake emerge reads from the drone's environment: the tree (SLOT), what hangs, how long a compile takes."""
    (tmp_path / "fake-state").mkdir(exist_ok=True)
    return {"SWARM_SLOTS": str(slots), "FAKE_EMERGE_REPOS": str(write_synthetic_repo(tmp_path / "synthetic-repo")),
            "FAKE_EMERGE_SECONDS": "0.02", "FAKE_EMERGE_STATE": str(tmp_path / "fake-state"),
            "FAKE_EMERGE_SCENARIOS": f"{HANGS}=hang_once"}


def attempts_of(swarm: Swarm, session: str, atom: str) -> list[dict[str, object]]:
    return [a for a in swarm.queries.history(session) if str(a.cpv).startswith(atom + "-")]


def build_log(swarm: Swarm, attempt: str) -> Path:
    return swarm.settings.logs_dir / "builds" / f"{attempt}.log"


def test_emerge_drones_build_the_plan_and_portage_reads_the_binhost(swarm: Swarm, tmp_path: Path) -> None:
    swarm.start_drones(["emerge-a", "emerge-b"], drone_env(tmp_path, 2))
    session = swarm.new_session()
    swarm.wait(lambda: bool(attempts_of(swarm, session, HANGS)) and build_log(swarm, str(attempts_of(swarm, session, HANGS)[0].attempt)).exists()
               and "x86_64-pc-linux-gnu-gcc" in build_log(swarm, str(attempts_of(swarm, session, HANGS)[0].attempt)).read_text(),
               120, f"{HANGS} compiling")
    hung = str(attempts_of(swarm, session, HANGS)[0].attempt)
    bootstrap.celery_app(swarm.settings).control.revoke(hung, terminate=True)  # an operator's `celery control revoke --terminate`
    swarm.wait(lambda: swarm.state(session) != "running", 300, "the session")
    assert swarm.state(session) == "complete"
    packages = swarm.packages(session)
    assert {p.state for p in packages.values()} == {"published"}

    # the revoked build: its whole process group is gone, its attempt ended cancelled, the package was built again
    log = build_log(swarm, hung).read_text()
    pgid = int(re.search(r"build revoked \(signal 15\): process group (\d+) stopped", log).group(1))  # type: ignore[union-attr]
    assert not group_alive(pgid)
    outcomes = [(a.attempt == hung, a.outcome) for a in attempts_of(swarm, session, HANGS)]
    assert (True, "cancelled") in outcomes and (False, "success") in outcomes
    assert any(e.kind == "attempt.cancelled" for e in swarm.queries.events(session))

    # every attempt ran the real command line, and portage reads the binhost and every package in it
    assert all("--usepkg-exclude=" in build_log(swarm, str(a.attempt)).read_text() for a in swarm.queries.history(session))
    binhost = swarm.settings.binhost_dir / "amd64"
    got = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(binhost), "keys": ["SLOT", "repository", "BUILD_ID"]})
    assert got["invalids"] == []
    assert set(got["cpvs"]) == {p.cpv for p in packages.values()}
    assert all(v["repository"] == "swarm-synthetic" for v in got["aux"].values())


def test_cancelling_a_session_stops_running_emerge_builds(swarm: Swarm, tmp_path: Path) -> None:
    swarm.start_drones(["emerge-c"], drone_env(tmp_path, 1))
    session = swarm.new_session()
    swarm.wait(lambda: any(a.state == "started" for a in attempts_of(swarm, session, HANGS)), 120, f"{HANGS} started")
    hung = str(attempts_of(swarm, session, HANGS)[0].attempt)
    swarm.wait(lambda: build_log(swarm, hung).exists() and "gcc" in build_log(swarm, hung).read_text(), 60, "compiling")
    run = swarm.cli("control", "cancel", "--session", session, "--json")
    assert run.code == 0, run.output
    swarm.wait(lambda: "process group" in build_log(swarm, hung).read_text(), 60, "the build stopped")
    pgid = int(re.search(r"process group (\d+) stopped", build_log(swarm, hung).read_text()).group(1))  # type: ignore[union-attr]
    assert not group_alive(pgid)
    time.sleep(1)  # the drone's late "cancelled" report is fenced: the attempt stays taken back
    attempt = next(a for a in swarm.queries.history(session) if a.attempt == hung)
    assert attempt.state == "stale" and swarm.state(session) == "cancelled"


def test_drones_upload_over_http_and_the_api_serves_what_portage_reads(swarm: Swarm, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, **swarm.settings.to_env(), "SWARM_API_TOKEN": "stack-admin"}
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen([sys.executable, "-m", "swarm_celery", "api", "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        swarm.wait(lambda: _answers(url), 30, "the API")
        for name in ("http-a", "http-b"):  # each drone its own token, its own staging: nothing shared with the coordinator
            token = bootstrap.drone_tokens(swarm.settings).issue(name)
            swarm.start_drones([name], drone_env(tmp_path, 2) | {
                "SWARM_COORDINATOR_URL": url, "SWARM_DRONE_TOKEN": token, "SWARM_HOME": str(tmp_path / name),
                "SWARM_BINHOST_URL": f"{url}/binhost/amd64", "FAKE_EMERGE_SCENARIOS": ""})
        session = swarm.new_session()
        swarm.wait(lambda: swarm.state(session) != "running", 300, "the session")
        assert swarm.state(session) == "complete"
        history = swarm.queries.history(session)
        assert {a.outcome for a in history} == {"success"} and all(a.artifact for a in history)
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer stack-admin"}) as client:
            logs = [client.get(f"/api/v1/logs/{a.attempt}") for a in history]
            assert all(r.status_code == 200 and "--usepkg-exclude=" in r.text for r in logs)  # every build log reached the coordinator
            index = client.get("/binhost/amd64/Packages")
            assert index.status_code == 200 and index.text.count("\nCPV: ") == len(history)
        assert not list((swarm.settings.home / "uploads").rglob("*.gpkg.tar"))  # all moved into the tree
        binhost = swarm.settings.binhost_dir / "amd64"
        got = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(tmp_path / "empty-pkgdir"), "binhost": str(binhost),
                                     "keys": ["SLOT", "BUILD_ID"]})
        assert got["invalids"] == [] and set(got["cpvs"]) == {a.cpv for a in history}
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_drone_restarted_after_kill_9_stops_the_build_its_crash_left_running(swarm: Swarm, tmp_path: Path) -> None:
    home = tmp_path / "crashy"
    env = drone_env(tmp_path, 1) | {"SWARM_HOME": str(home), "FAKE_EMERGE_SCENARIOS": "*=silent_hang"}
    swarm.start_drones(["crashy"], env)
    swarm.new_session()
    records = home / "run"
    swarm.wait(lambda: any(records.glob("*.pgid")), 120, "a build running")
    pgid = int(next(records.glob("*.pgid")).read_text().split()[0])
    # kill it only once the build went quiet: killed while it still prints, emerge dies of its closed pipe at its
    # next line and there is no orphan left to stop (the kill came that early in 3 of 4 runs on a quiet machine)
    swarm.wait(lambda: any(log.read_text().rstrip().rsplit("\n", 1)[-1].startswith("make -j") for log in (home / "logs" / "builds").glob("*.log")),
               60, "the build in its silent compile")
    worker = swarm.stack.workers[-1]
    os.killpg(worker.process.pid, signal.SIGKILL)  # the drone dies hard: nothing of it runs its cleanup
    worker.process.wait()
    swarm.stack.workers.remove(worker)
    time.sleep(0.5)
    assert group_alive(pgid)  # emerge runs on in its own session, orphaned
    restarted = f"stopped 1 build process groups an earlier run of this drone left running: [{pgid}]"
    swarm.start_drones(["crashy"], env)
    swarm.wait(lambda: restarted in swarm.stack.workers[-1].log.read_text(), 60, "the restarted drone's report")
    swarm.wait(lambda: not group_alive(pgid), 10, "the orphaned group gone")  # SIGKILLed; init reaps it
    swarm.stack.stop(grace=20)  # a warm shutdown stops the build it is running now (SIGTERM, SIGKILL after 10 s)
    assert reap_orphans(records) == []


def test_a_simulating_drone_never_receives_real_work(swarm: Swarm, tmp_path: Path) -> None:
    swarm.start_drones(["pretender"], {"SWARM_BUILDER": "simulate", "SWARM_TIME_SCALE": "0", "SWARM_SLOTS": "4"})
    swarm.start_drones(["builder"], drone_env(tmp_path, 2) | {"FAKE_EMERGE_SCENARIOS": ""})
    request = build_request([write_synthetic_repo(tmp_path / "repo")], default_profile("amd64"), "amd64", tuple(synthetic_world()), None)
    session = bootstrap.session_queue(swarm.settings.with_(builder="simulate")).queue(request)  # the queuer says simulate
    swarm.wait(lambda: swarm.state(session) not in ("planning", "running"), 300, "the session")
    assert swarm.state(session) == "complete"
    info = swarm.queries.session(session)
    assert info is not None and info.simulated is False  # the swarm's coordinator (SWARM_BUILDER=emerge) decided
    history = swarm.queries.history(session)
    assert {a.drone for a in history} == {"builder"} and {a.outcome for a in history} == {"success"}
    assert swarm.queries.events(None, kind="drone.grounded") == [] and swarm.queries.events(None, kind="attempt.failed") == []
    assert [e.message.split(":")[0] for e in swarm.queries.events(session, kind="session.kind")] == ["builds are real"]


def test_megabytes_of_build_output_do_not_slow_the_heartbeats(swarm: Swarm, tmp_path: Path) -> None:
    home = tmp_path / "chatty"
    env = drone_env(tmp_path, 1) | {"SWARM_HOME": str(home), "SWARM_HEARTBEAT": "1", "FAKE_EMERGE_SCENARIOS": f"{HANGS}=chatty",
                                    "FAKE_EMERGE_CHATTY_MB": "96", "FAKE_EMERGE_CHATTY_SECONDS": "6"}
    swarm.start_drones(["chatty"], env)
    session = swarm.new_session()
    swarm.wait(lambda: any(a.state == "started" for a in attempts_of(swarm, session, HANGS)), 120, f"{HANGS} started")
    log = home / "logs" / "builds" / f"{attempts_of(swarm, session, HANGS)[0].attempt}.log"
    seen: list[float] = []
    while not any(a.state in ("finished", "stale") for a in attempts_of(swarm, session, HANGS)):  # sample the record while it chats
        drone = next(d for d in swarm.queries.fleet() if d.name == "chatty")
        if drone.last_seen and (not seen or drone.last_seen != seen[-1]):
            seen.append(drone.last_seen)
        time.sleep(0.1)
    assert log.stat().st_size > 96 * 2**20  # the build really printed that much, all of it into the log
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert len(seen) >= 5 and max(gaps) < 3.0, gaps  # a heartbeat a second while 16 MB/s stream through the drone
