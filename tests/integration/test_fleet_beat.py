"""``swarm.probe_fleet`` run by a real ``celery beat`` on a live swarm: a real Celery ping of a real drone worker,
SSH to a real sshd on 127.0.0.1; the drone's worker stops and the ladder's first step restarts its service."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from swarm_celery.domain.views import as_json
from tests.integration.sshd_kit import Sshd, sshd  # noqa: F401
from tests.integration.swarm_kit import live_swarm

pytestmark = pytest.mark.slow

FRESH = "Fri, 27 Nov 2026 06:00:00 +0000"
OLD = "Wed, 25 Nov 2026 06:00:00 +0000"


def _inventory(kit: Sshd, path: Path) -> Path:
    path.write_text(f"""
[defaults]
user = "root"
key_file = "{kit.key}"
known_hosts = "{kit.known_hosts}"

[drones.d1]
host = "127.0.0.1"
port = {kit.port}
type = "qemu"
tree = "{kit.root / 'tree'}"
build_dir = "{kit.root}"
pkgdir = "{kit.root}"
pidfile = "{kit.root / 'worker.pid'}"
reboot = "{kit.bin / 'reboot'}"
sync_log = "{kit.root / 'sync.log'}"
""")
    return path


def _tree(path: Path, stamp: str) -> Path:
    (path / "metadata").mkdir(parents=True, exist_ok=True)
    (path / "metadata" / "timestamp.chk").write_text(stamp + "\n")
    return path


def test_beat_probes_the_fleet_and_restarts_a_silent_drone(tmp_path: Path, portage_cache: Path, redis_url: str,
                                                            sshd: Sshd) -> None:  # noqa: F811
    sshd.fake("rc-service")
    sshd.fake("emerge")  # records the sync it is told to run, and leaves the tree as old as it was
    _tree(sshd.root / "tree", OLD)
    env = {"SWARM_FLEET_FILE": str(_inventory(sshd, tmp_path / "fleet.toml")), "SWARM_PROBE_EVERY": "1",
           "SWARM_HEAL_GRACE": "0", "SWARM_HEAL_COOLDOWN": "600", "SWARM_TREE": str(_tree(tmp_path / "coordinator-tree", FRESH))}
    swarm_iter = live_swarm(tmp_path / "home", portage_cache, redis_url, **env)
    swarm = next(swarm_iter)
    try:
        swarm.start_drones(["d1"])
        swarm.stack.start("beat", "beat")

        def health() -> dict[str, object]:
            return next((as_json(d.health) if d.health else {} for d in swarm.queries.fleet() if d.name == "d1"), {})

        swarm.wait(lambda: health().get("answered") is True and health().get("reachable") is True, 40, "a probe of d1")
        assert "emerge --sync" in str(health()["tree_hold"])  # its tree is two days behind the coordinator's
        assert swarm.queries.events(None, 50, kind="drone.tree_stale")
        swarm.wait(lambda: "emerge --sync" in sshd.recorded(), 20, "d1 to be told to sync")
        assert swarm.queries.events(None, 50, kind="drone.tree_sync_started")

        drone = next(w for w in swarm.stack.workers if w.name == "d1")
        drone.process.send_signal(signal.SIGTERM)
        drone.process.wait(timeout=30)
        swarm.stack.workers.remove(drone)  # stopped on purpose: not a death for swarm.wait to report
        swarm.wait(lambda: health().get("level") == 1, 40, "the ladder's first level")  # recorded after its step
        assert sshd.recorded() == ["emerge --sync", "rc-service build-swarm-drone restart"]  # told once: sync_retry is 1 h
        [event] = swarm.queries.events(None, 50, kind="heal.restart")
        assert event.subject == "d1"
        assert health()["answered"] is False
        run = swarm.cli("fleet", "--json")
        assert run.code == 0, run.stderr
        assert next(d for d in run.json() if d["name"] == "d1")["health"]["level"] == 1
    finally:
        swarm_iter.close()
