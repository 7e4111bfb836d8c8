"""`build-swarm history import`: real emerge.log files into the store, as the scheduler's weights; bad input refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

from swarm_celery import bootstrap
from swarm_celery.settings import Settings
from tests.integration.demo_kit import run_cli


def env_for(home: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SWARM_")}, "SWARM_HOME": str(home)}


def test_import_real_logs_once_and_feed_the_weights(shared: Path, tmp_path: Path) -> None:
    logs = shared / "data" / "emerge-logs"
    env = env_for(tmp_path / "home")
    first = run_cli(["history", "import", str(logs / "emlop_tests_emerge.10000.log"), str(logs / "emlop_tests_emerge.nullbytes.log"),
                     "--json"], env)
    assert first.code == 0, first.stderr
    report = json.loads(first.stdout)
    assert [(r["builds"], r["new"], r["unreadable_lines"]) for r in report] == [(831, 831, 0), (14, 14, 1)]
    again = run_cli(["history", "import", str(logs / "emlop_tests_emerge.10000.log")], env)
    assert again.code == 0 and "831 builds" in again.stdout and "(0 new;" in again.stdout
    weights = bootstrap.store(Settings.from_env(env)).history_seconds()
    assert max(weights["www-client/chromium"]) == 28563 and weights["app-emulation/wine"] == [1512.0]
    sessions = run_cli(["history", "--json"], env)  # the group still lists a session's attempts
    assert sessions.code == 2 and "no sessions yet" in sessions.stderr


def test_import_refuses_what_is_not_an_emerge_log(tmp_path: Path) -> None:
    env = env_for(tmp_path / "home")
    other = tmp_path / "messages"
    other.write_text("Nov 27 02:00:00 host kernel: hello\n")
    refused = run_cli(["history", "import", str(other)], env)
    assert refused.code == 2 and "does not look like portage's emerge.log" in refused.stderr
    missing = run_cli(["history", "import", str(tmp_path / "nope.log")], env)
    assert missing.code == 2 and "cannot read" in missing.stderr and "/var/log/emerge.log" in missing.stderr
    assert bootstrap.store(Settings.from_env(env_for(tmp_path / "home"))).history_seconds() == {}
