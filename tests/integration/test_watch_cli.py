"""The CLI's views of a finished demo, as a user runs them (piped, like a script): sessions, status, plan, logs, events,
fleet, explain, monitor; whole lines when piped; session ids by their start."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from swarm_celery import bootstrap
from swarm_celery.domain.controls import PAUSED_FLAG
from swarm_celery.settings import Settings
from swarm_celery.store.models import DroneRow
from tests.coordinator_kit import REQUEST
from tests.integration.demo_kit import Run, cli_env, run_cli

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    env: dict[str, str]
    session: str
    stderr: str

    def cli(self, *args: str, **env: str) -> Run:
        return run_cli(list(args), {**self.env, **env}, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, portage_cache: Path) -> Iterator[Demo]:
    if Path("/var/db/repos/gentoo").is_dir():
        pytest.skip("a real Gentoo tree is installed here; the demo would use it")
    home = tmp_path_factory.mktemp("watch-cli")
    env = cli_env(home, portage_cache)
    run = run_cli(["demo", "--drones", "2", "--time-scale", "0.0005"], env)
    assert run.code == 0, run.stderr[-3000:]
    session = json.loads(run_cli(["sessions", "--json"], env).stdout)[0]["session"]
    yield Demo(env, session, run.stderr)


def test_piped_output_keeps_whole_lines(demo: Demo) -> None:
    hint = f"next: build-swarm history --session {demo.session}   build-swarm status --session {demo.session}"
    assert hint in demo.stderr.splitlines()  # the session id is not broken across lines at 80 columns
    history = demo.cli("history")
    assert history.code == 0 and "sys-devel/gcc-14.2.1_p20241221" in history.stdout and "…" not in history.stdout


def test_sessions_are_listed_and_found_by_the_start_of_their_id(demo: Demo) -> None:
    listed = demo.cli("sessions")
    assert listed.code == 0 and demo.session in listed.stdout and "48/48" in listed.stdout and "complete" in listed.stdout
    status = demo.cli("status", "--session", demo.session[:4], "--json")
    assert status.code == 0 and status.json()["session"] == demo.session and status.json()["swarm_paused"] is False
    assert demo.cli("history", "--session", demo.session[:5], "--json").json()[0]["cpv"]
    missing = demo.cli("status", "--session", "fffffff")
    assert missing.code == 2 and missing.stderr == "error: no session starts with fffffff; `build-swarm sessions` lists them\n"


def test_status_says_when_the_whole_swarm_is_paused(demo: Demo) -> None:
    store = bootstrap.store(Settings.from_env(demo.env))
    store.set_flag(PAUSED_FLAG, "1")
    try:
        text, as_json = demo.cli("status", "--session", demo.session), demo.cli("status", "--session", demo.session, "--json")
    finally:
        store.set_flag(PAUSED_FLAG, "")
    assert text.stdout.startswith("the swarm is paused: no new builds start anywhere; `build-swarm control resume` lifts it\n")
    assert as_json.json()["swarm_paused"] is True


def test_plan_lists_packages_by_stage(demo: Demo) -> None:
    done = demo.cli("plan", "--session", demo.session, "--stage", "done", "--json").json()
    assert len(done) == 48 and {r["stage"] for r in done} == {"done"}
    assert demo.cli("plan", "--stage", "ready", "--json").json() == []
    assert demo.cli("explain", "nope/nope").stderr == ("error: nope/nope is not in any running or complete session; "
                                                       "`build-swarm plan` lists the packages of a session\n")


def test_logs_prints_a_builds_log_by_package_or_attempt(demo: Demo) -> None:
    by_package = demo.cli("logs", "dev-util/pkgconf")
    assert by_package.code == 0 and ">>> Emerging (1 of 1) dev-util/pkgconf-2.3.0" in by_package.stdout
    assert ">>> Completed dev-util/pkgconf-2.3.0" in by_package.stdout
    attempt = demo.cli("history", "--session", demo.session, "--json").json()[0]["attempt"]
    followed = demo.cli("logs", attempt, "--follow", "--json")
    chunks = [json.loads(line) for line in followed.stdout.splitlines()]
    assert followed.code == 0 and chunks[-1]["done"] is True and "SIMULATED" in "".join(c["text"] for c in chunks)
    assert demo.cli("logs", "nope/nope").stderr.startswith("error: no attempt nope/nope, and no build of a package nope/nope")


def test_events_say_they_show_the_newest_and_do_not_repeat_the_subject(demo: Demo) -> None:
    found = demo.cli("events", "--kind", "package.published", "--limit", "3")
    lines = found.stdout.splitlines()
    assert len(lines) == 3 and found.stderr.startswith("(the newest 3 events that match; --limit N shows more")
    for line in lines:
        subject = line.split()[2]
        assert line.count(subject) == 1 and line.endswith(("built by drone-1", "built by drone-2"))


def test_fleet_reads_a_silent_drone_as_offline_whatever_the_record_says(demo: Demo) -> None:
    store = bootstrap.store(Settings.from_env(demo.env))
    with store.engine.begin() as db:  # as a coordinator left them: online, last seen 10 s ago
        db.execute(update(DroneRow).values(state="online", last_seen=time.time() - 10))
    assert {d["state"] for d in demo.cli("fleet", "--json", SWARM_OFFLINE_AFTER="60").json()} == {"online"}
    assert {d["state"] for d in demo.cli("fleet", "--json", SWARM_OFFLINE_AFTER="5").json()} == {"offline"}
    assert "offline" in demo.cli("fleet", SWARM_OFFLINE_AFTER="5").stdout


def test_monitor_draws_one_frame_for_a_script(demo: Demo) -> None:
    frame = demo.cli("monitor", "--once")
    assert frame.code == 0 and demo.session in frame.stdout and "48/48" in frame.stdout and "latest events" in frame.stdout
    snapshot = demo.cli("monitor", "--once", "--json").json()
    assert snapshot["overview"]["sessions"][0]["done"] == 48 and set(snapshot["drones"]) == {"drone-1", "drone-2"}


def test_an_ambiguous_session_prefix_names_the_candidates(demo: Demo) -> None:
    """Last in this file: it adds a session."""
    store = bootstrap.store(Settings.from_env(demo.env))
    twin = demo.session[:3] + "000000000"
    store.create_session(twin, REQUEST, simulated=True)
    found = demo.cli("status", "--session", demo.session[:3])
    assert found.code == 2 and found.stderr.count("\n") == 1
    assert found.stderr.startswith(f"error: {demo.session[:3]} names 2 sessions (") and "give more of the id" in found.stderr
    assert demo.cli("status", "--session", demo.session).code == 0  # a whole id is never ambiguous
