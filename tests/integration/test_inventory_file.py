"""The fleet inventory as provisioning writes it: provisions run at once, each in its own process, lose no drone."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from swarm_celery.fleet.inventory import InventoryFile

COMMENT = "# my fleet\n[defaults]\nuser = \"root\"\n"


def _provision(path: str, worker: int) -> None:
    for n in range(5):
        InventoryFile(Path(path)).save(f"w{worker}n{n}", {"host": f"10.0.{worker}.{n + 1}", "type": "lxc"})


def test_concurrent_saves_from_many_processes_keep_every_drone_and_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(COMMENT)
    path.chmod(0o640)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_provision, args=(str(path), w)) for w in range(6)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0] * 6
    drones = InventoryFile(path).drones()
    assert sorted(drones) == sorted(f"w{w}n{n}" for w in range(6) for n in range(5))
    assert drones["w3n4"].host == "10.0.3.5" and path.read_text().startswith(COMMENT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the admin's mode is kept
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
