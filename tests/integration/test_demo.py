"""`build-swarm demo` end to end: real portage, real Celery workers, real brokers, SQLite and Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from swarm_celery.domain.durations import Durations, parse_durations
from swarm_celery.domain.simulation import Chaos
from tests.integration.demo_kit import check_gated_dispatch, cli_env, medium_args, parse_index, run_cli

pytestmark = pytest.mark.slow
SHIPPED_DURATIONS = Path(__file__).resolve().parents[2] / "swarm_celery" / "data" / "build-durations.csv"


@pytest.fixture(scope="module")
def medium_plan(shared: Path, portage_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("resolve-home")
    run = run_cli(["resolve", *medium_args(shared), "--json"], cli_env(home, portage_cache))
    assert run.code == 0, run.stderr
    plan: dict[str, Any] = run.json()
    assert len(plan["packages"]) == 359
    assert set(plan["packages"][0]) >= {"cpv", "slot", "sub_slot", "repo", "use", "build_deps", "run_deps", "post_deps"}
    return plan


def assert_demo_run(home: Path, env: dict[str, str], summary: dict[str, Any], plan: dict[str, Any]) -> None:
    assert summary["planned"] == summary["published"] == 359
    assert summary["failed"] == summary["blocked"] == summary["skipped"] == 0
    binhost = Path(summary["binhost"])
    entries = parse_index(binhost / "Packages")
    cpvs = [e["CPV"] for e in entries]
    assert len(cpvs) == len(set(cpvs)) == 359
    assert set(cpvs) == {p["cpv"] for p in plan["packages"]}
    for entry in entries:
        assert (binhost / entry["PATH"]).is_file()
    history = run_cli(["history", "--session", summary["session"], "--json"], env).json()
    assert len(history) == 359 and {h["state"] for h in history} == {"finished"}
    assert all(h["dispatched_at"] <= h["started_at"] <= h["finished_at"] for h in history)
    assert len({h["drone"] for h in history}) == 4
    assert check_gated_dispatch(history, plan) > 300


def test_demo_medium_set_sqlite_embedded_broker(shared: Path, portage_cache: Path, tmp_path: Path, medium_plan: dict[str, Any]) -> None:
    env = cli_env(tmp_path, portage_cache)
    run = run_cli(["demo", *medium_args(shared), "--drones", "4", "--time-scale", "0.001", "--json"], env)
    assert run.code == 0, run.stderr[-3000:]
    summary = run.json()
    assert summary["database_url"].startswith("sqlite:///")
    assert_demo_run(tmp_path, env, summary, medium_plan)
    status = run_cli(["status", "--json"], env).json()
    assert status["state"] == "complete" and status["simulated"] is True
    fleet = run_cli(["fleet", "--json"], env).json()
    assert sorted(d["name"] for d in fleet) == ["drone-1", "drone-2", "drone-3", "drone-4"]
    assert sum(d["builds"] for d in fleet) == 359
    assert run_cli(["queue", "list", "--json"], env).json() == []


def test_demo_medium_set_postgres_and_real_redis(shared: Path, portage_cache: Path, tmp_path: Path, pg_url: str,
                                                 redis_url: str, medium_plan: dict[str, Any]) -> None:
    broker = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(broker).flushdb()
    env = cli_env(tmp_path, portage_cache, SWARM_DATABASE_URL=pg_url, SWARM_BROKER_URL=broker)
    try:
        run = run_cli(["demo", *medium_args(shared), "--drones", "4", "--time-scale", "0.001", "--json"], env)
        assert run.code == 0, run.stderr[-3000:]
        summary = run.json()
        assert summary["database_url"] == pg_url
        assert_demo_run(tmp_path, env, summary, medium_plan)
    finally:
        redis.Redis.from_url(broker).flushdb()


def test_demo_on_the_shipped_synthetic_tree(portage_cache: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path, portage_cache)
    if Path("/var/db/repos/gentoo").is_dir():
        pytest.skip("a real Gentoo tree is installed here; the demo would use it")
    run = run_cli(["demo", "--drones", "2", "--time-scale", "0.0005", "--json"], env)
    assert run.code == 0, run.stderr[-3000:]
    summary = run.json()
    assert summary["planned"] == summary["published"] > 20
    assert len(parse_index(Path(summary["binhost"]) / "Packages")) == summary["planned"]


@pytest.mark.parametrize(
    ("world_line", "culprit"),
    [("app-misc/tmux[", "entry 2 is not a package atom"), ("app-misc/does-not-exist", "app-misc/does-not-exist")],  # file text: never echoed
)
def test_demo_bad_atom_one_line_error_nothing_published(shared: Path, portage_cache: Path, tmp_path: Path,
                                                        world_line: str, culprit: str) -> None:
    world = tmp_path / "world"
    world.write_text(f"app-misc/tmux\n{world_line}\n")
    env = cli_env(tmp_path / "home", portage_cache)
    run = run_cli(["demo", *medium_args(shared, world), "--drones", "1", "--json"], env)
    assert run.code == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0] and lines[0].startswith("error: ")
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "home" / "binhost").exists()
    status = run_cli(["status", "--json"], env)
    if world_line.endswith("["):  # refused as it was read: no session was started
        assert status.code == 2 and "no sessions yet" in status.stderr
    else:  # resolved and refused by portage: the session records why
        assert status.json()["state"] == "failed" and status.json()["planned"] == 0


def test_demo_missing_repo_path(tmp_path: Path, portage_cache: Path) -> None:
    env = cli_env(tmp_path, portage_cache)
    run = run_cli(["demo", "--repo", str(tmp_path / "nope"), "--world", "/dev/null", "--json"], env)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.strip().count("\n") == 0 and str(tmp_path / "nope") in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "swarm.db").exists() and not (tmp_path / "binhost").exists()


def _swarm_processes(home: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"SWARM_HOME={home}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def test_demo_ctrl_c_stops_every_worker(shared: Path, portage_cache: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path, portage_cache)
    proc = subprocess.Popen([sys.executable, "-m", "swarm_celery", "demo", *medium_args(shared), "--drones", "2",
                             "--time-scale", "0.05", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "staging").glob("*")):
        time.sleep(0.5)  # wait until drones are building
    assert list((tmp_path / "staging").glob("*")), "no build started within 120 s"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    time.sleep(1)
    assert [p for p in _swarm_processes(tmp_path) if p != os.getpid()] == []


def test_demo_without_any_redis_uses_the_filesystem_broker(portage_cache: Path, tmp_path: Path) -> None:
    """A fresh machine: no SWARM_BROKER_URL and no redis-server on PATH."""
    if Path("/var/db/repos/gentoo").is_dir():
        pytest.skip("a real Gentoo tree is installed here; the demo would use it")
    env = cli_env(tmp_path, portage_cache, PATH=str(Path(sys.executable).parent))
    proc = subprocess.run([sys.executable, "-m", "swarm_celery", "demo", "--drones", "2", "--time-scale", "0.0005"],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "broker: filesystem" in proc.stderr
    assert "synthetic" in proc.stderr and "SIMULATED" in proc.stderr
    assert (tmp_path / "broker" / "queue").is_dir()


@pytest.mark.parametrize("command", [["status"], ["history", "--json"], ["status", "--session", "nope", "--json"]])
def test_inspect_commands_without_sessions_say_what_to_do(tmp_path: Path, portage_cache: Path, command: list[str]) -> None:
    run = run_cli(command, cli_env(tmp_path, portage_cache))
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert "build-swarm" in run.stderr and "Traceback" not in run.stderr


def test_demo_in_a_world_that_is_not_the_table(portage_cache: Path, tmp_path: Path) -> None:
    """Noise, bias, unequal drones and transient failures, all from the seed: every realized build time is in the
    history, exactly the one the seed makes; every first try the seed fails is retried elsewhere and succeeds."""
    env = cli_env(tmp_path, portage_cache)
    if Path("/var/db/repos/gentoo").is_dir():
        pytest.skip("a real Gentoo tree is installed here; the demo would use it")
    chaos = Chaos(noise=0.3, bias=1.5, transient=0.25, seed=7)
    run = run_cli(["demo", "--drones", "3", "--time-scale", "0.002", "--duration-noise", "0.3", "--duration-bias", "1.5",
                   "--drone-speeds", "0.5,1,2", "--transient-failures", "0.25", "--seed", "7", "--json"], env)
    assert run.code == 0, run.stderr[-3000:]
    summary = run.json()
    assert summary["planned"] == summary["published"] > 20 and summary["failed"] == summary["blocked"] == 0
    history = run_cli(["history", "--session", summary["session"], "--json"], env).json()
    failed = [h for h in history if h["outcome"] == "failed"]
    expected_failures = {h["cpv"] for h in history if chaos.fails_at(h["cpv"], 0) is not None}
    assert expected_failures and {h["cpv"] for h in failed} == expected_failures and summary["retried"] == len(failed)
    assert all(h["failure_kind"] == "fetch" and h["infrastructure"] for h in failed)
    table = Durations(parse_durations(SHIPPED_DURATIONS.read_text()))
    slowdown = {"drone-1": 2.0, "drone-2": 1.0, "drone-3": 0.5}
    for h in history:
        if h["outcome"] == "success":
            assert h["build_seconds"] == pytest.approx(table.for_cpv(h["cpv"]) * chaos.factor(h["cpv"]) * slowdown[h["drone"]])
    assert summary["makespan"] >= summary["hindsight_bound"] > 0


def test_demo_drone_speeds_must_name_every_drone(portage_cache: Path, tmp_path: Path) -> None:
    run = run_cli(["demo", "--drones", "3", "--drone-speeds", "1,2", "--json"], cli_env(tmp_path, portage_cache))
    assert run.code == 2 and run.stdout == "" and "--drone-speeds" in run.stderr and "one per drone" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "swarm.db").exists()
