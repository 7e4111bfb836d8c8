"""Making and publishing a generation, killed between every two steps: clients are served a whole generation throughout,
the previous one until the symlink switch and the new one from then on, and the leftovers are swept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.domain.generations import Generation, GenerationRef
from tests.generations_kit import served_whole, stage
from tests.integration.portage_kit import portage_run

STEPS = ["create.dir", "create.links", "create.index", "create.meta", "create.rename",
         "publish.index", "publish.symlink", "publish.switch", "publish.marks"]
SWITCHED = STEPS.index("publish.switch")

CHILD = """
import json, os, sys
from pathlib import Path
from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.domain.generations import Generation, GenerationRef

binhost, step, paths = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])

def fault(done: str) -> None:
    if done == step:
        os._exit(9)  # as a kill -9 would: no cleanup, no flush

files = GenerationFiles(binhost, fault)
made = files.create("desk", "amd64", paths, Generation(GenerationRef("desk", "amd64", 1), 2000.0, "s2"))
files.publish(made.ref)
"""


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_leaves_a_whole_generation_served(tmp_path: Path, step: str) -> None:
    binhost = tmp_path / "binhost"
    old = stage(binhost, ["dev-libs/lib-1", "app-misc/app-1"])
    new = stage(binhost, ["dev-libs/lib-2", "app-misc/app-1", "app-misc/tool-1"], attempt="b")  # app-1 rebuilt: BUILD_ID 2
    files = GenerationFiles(binhost)
    first = files.create("desk", "amd64", list(old.values()), Generation(GenerationRef("desk", "amd64", 1), 1000.0, "s1"))
    files.publish(first.ref)
    area = files.area("desk", "amd64")
    assert served_whole(area) == (1, 2)

    run = subprocess.run([sys.executable, "-c", CHILD, str(binhost), step, json.dumps(sorted(new.values()))],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 9, run.stderr
    served = served_whole(area)
    assert served == ((2, 3) if STEPS.index(step) >= SWITCHED else (1, 2)), f"killed after {step}"
    assert files.published("desk", "amd64") == served[0]

    files.sweep()  # what an interrupted step left is never served and goes now
    assert not [p for p in area.iterdir() if ".tmp-" in p.name or p.name.startswith(".trash-")]
    again = files.create("desk", "amd64", sorted(new.values()), Generation(GenerationRef("desk", "amd64", 1), 3000.0, "s3"))
    files.publish(again.ref)
    assert served_whole(area) == (again.ref.number, 3)


def test_portage_reads_the_published_generation_as_its_binhost(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    old = stage(binhost, ["dev-libs/lib-1", "app-misc/app-1"])
    new = stage(binhost, ["dev-libs/lib-2", "app-misc/app-1"], attempt="b")
    files = GenerationFiles(binhost)
    for paths in (old, new):
        files.publish(files.create("desk", "amd64", sorted(paths.values()), Generation(GenerationRef("desk", "amd64", 1), 1.0)).ref)
    current = files.area("desk", "amd64") / "current"
    got = portage_run(tmp_path, {"op": "bintree", "pkgdir": str(tmp_path / "empty"), "binhost": str(current), "keys": ["BUILD_ID"]})
    assert got["cpvs"] == ["app-misc/app-1", "dev-libs/lib-2"] and all(got["remote"].values())  # staging also holds lib-1
    assert got["aux"]["app-misc/app-1"] == {"BUILD_ID": "2"}  # the rebuild, beside build 1 in staging
    files.publish(GenerationRef("desk", "amd64", 1))  # rollback
    (tmp_path / "again").mkdir()
    got = portage_run(tmp_path / "again", {"op": "bintree", "pkgdir": str(tmp_path / "empty2"), "binhost": str(current), "keys": ["BUILD_ID"]})
    assert got["cpvs"] == ["app-misc/app-1", "dev-libs/lib-1"] and got["aux"]["app-misc/app-1"] == {"BUILD_ID": "1"}
