"""`build-swarm demo --builder emerge`: the shipped overlay built for real on this machine, and a clear line when the
host lacks the toolchain."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from swarm_celery.binhost.index import parse_index
from tests.integration.demo_kit import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the prefixes build as root (PORTAGE_USERNAME=root)")]

PLANNED = {"swarm-test/libgreet-1", "swarm-test/greetgen-1", "swarm-test/hello-1", "swarm-test/goodbye-1", "swarm-test/phrasebook-1",
           "swarm-test/greetings-1"}


def demo_env(home: Path, path: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_")} | {"SWARM_HOME": str(home)}
    return env | ({"PATH": path} if path else {})


def test_the_real_demo_builds_the_shipped_overlay_with_emerge(tmp_path: Path) -> None:
    run = run_cli(["demo", "--builder", "emerge", "--drones", "2", "--json"], demo_env(tmp_path / "home"), timeout=600)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert (summary["planned"], summary["published"], summary["failed"]) == (6, 6, 0)
    entries = parse_index((Path(summary["binhost"]) / "Packages").read_text())[1]
    assert {e.cpv for e in entries} == PLANNED
    logs = sorted((tmp_path / "home" / "drones").glob("drone-*/logs/builds/*.log"))
    assert len(logs) == 6 and all("--usepkg-exclude=swarm-test/" in log.read_text() for log in logs)  # real emerge ran each
    assert all("build-swarm: running " in log.read_text() and "exited with status 0" in log.read_text() for log in logs)
    print(f"\nreal demo: {summary['wall_seconds']} s for 6 packages on 2 drones")


def test_the_real_demo_says_what_is_missing(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("tar", "gzip"):
        (tools / name).symlink_to(f"/usr/bin/{name}")
    run = run_cli(["demo", "--builder", "emerge"], demo_env(tmp_path / "home", f"{Path(sys.executable).parent}:{tools}"))
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.strip() == ("error: the real demo compiles C programs with the host's toolchain, and gcc, make are missing: "
                                  "install them (Debian: apt-get install gcc make), or run the simulated demo (without --builder emerge)")
