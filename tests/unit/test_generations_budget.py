"""The disk budget of `binhost purge`, on real files: disk use counts each inode once, the oldest unprotected generation
and a superseded staging build go until the binhost fits, and what is protected or running stays."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from swarm_celery.binhost.disk import disk_map
from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.disk_budget import DiskMap, StagedBuild, build_key, format_size, parse_size, superseded
from swarm_celery.domain.generations import Generation, GenerationRef
from swarm_celery.services.generations import Generations
from tests.generations_kit import BudgetRecord, FixedClock, served_whole, stage

LIB, APP = "dev-libs/lib-1", "app-misc/app-1"


def du(root: Path) -> int:
    """What ``du`` says: the allocated bytes of each file, directory and link below ``root``, each inode once."""
    seen: dict[tuple[int, int], int] = {}
    for folder, _, names in os.walk(root):
        for path in [folder, *(os.path.join(folder, n) for n in names)]:
            st = os.lstat(path)
            seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    total = sum(seen.values())
    if shutil.which("du"):  # coreutils counts the same
        assert int(subprocess.run(["du", "-s", "--block-size=1", str(root)], capture_output=True, text=True,
                                  check=True).stdout.split()[0]) == total
    return total


@pytest.fixture
def world(tmp_path: Path) -> tuple[Generations, GenerationFiles, BudgetRecord, dict[str, str]]:
    """Staging holds lib built twice (BUILD_ID 1, then a rebuild with the same identity: 2) and app; generation 1 is
    lib's first build with app, generation 2 (published) its rebuild with app."""
    binhost = tmp_path / "binhost"
    files, record = GenerationFiles(binhost), BudgetRecord()
    first = stage(binhost, [LIB, APP], attempt="a")
    second = stage(binhost, [LIB], attempt="b")
    paths = {"old": first[LIB], "new": second[LIB], "app": first[APP]}
    assert paths["old"] != paths["new"]
    record.builds = {paths["old"]: ("lib", 1.0), paths["new"]: ("lib", 2.0), paths["app"]: ("app", 1.0)}
    for n, lib in ((1, paths["old"]), (2, paths["new"])):
        files.create("desk", "amd64", [lib, paths["app"]], Generation(GenerationRef("desk", "amd64", 1), float(n)))
    files.publish(GenerationRef("desk", "amd64", 2))
    return Generations(files, record, FixedClock()), files, record, paths  # type: ignore[arg-type]


def test_disk_use_counts_each_inode_once(world: tuple[Generations, GenerationFiles, BudgetRecord, dict[str, str]]) -> None:
    _, files, _, paths = world
    disk = files.disk()
    assert disk.used() == du(files.binhost)
    app = (files.binhost / "amd64" / paths["app"]).stat()
    assert app.st_nlink == 3 and sum(1 for g in disk.generations.values() if (app.st_dev, app.st_ino) in g) == 2


def test_budget_takes_the_oldest_unprotected_generation_and_the_superseded_build(
        world: tuple[Generations, GenerationFiles, BudgetRecord, dict[str, str]]) -> None:
    service, files, record, paths = world
    old = files.binhost / "amd64" / paths["old"]
    before, old_bytes = du(files.binhost), old.stat().st_blocks * 512
    own = [os.lstat(os.path.join(d, n)) for d, _, names in os.walk(files.area("desk", "amd64") / "1") for n in ["", *names]]
    first = sum(st.st_blocks * 512 for st in own if st.st_nlink == 1 or stat.S_ISDIR(st.st_mode))  # its index, folders
    budget = before - first - old_bytes  # removing generation 1 frees only what it alone links: lib's first build must go
    dry = service.purge(5, dry_run=True, budget=budget)
    assert dry.budget is not None and not dry.budget.problem
    assert dry.removed == ("desk/amd64/1",) and dry.budget.pruned == (f"amd64/{paths['old']}",)
    assert old.is_file() and du(files.binhost) == before and dry.budget.used_before == before
    assert dry.budget.freed == first + old_bytes and dry.budget.used_after == budget

    done = service.purge(5, budget=budget)
    assert done.budget is not None and done.budget == dry.budget  # the dry run said exactly what happened
    assert not old.exists() and done.budget.used_after == du(files.binhost) <= budget
    staged = {e.path for e in parse_index((files.binhost / "amd64" / "Packages").read_text())[1]}
    assert staged == {paths["new"], paths["app"]}
    assert served_whole(files.area("desk", "amd64")) == (2, 2)
    assert [g.ref.number for g in files.all()] == [2] and record.events


@pytest.mark.parametrize("slot", ["0", "2"])
def test_an_older_version_goes_so_a_budget_is_met_that_kept_every_identity_could_not_meet(tmp_path: Path, slot: str) -> None:
    """lib-1 and its newer version lib-2 (another identity) in staging, the published generation links lib-2: pruning
    lib-1 fits the budget. In another SLOT lib-1 is no older build of lib-2's package, and the budget cannot be met."""
    binhost = tmp_path / "binhost"
    files, record = GenerationFiles(binhost), BudgetRecord()
    first = stage(binhost, ["dev-libs/lib-1", APP], attempt="a")
    second = stage(binhost, ["dev-libs/lib-2"], attempt="b", slots={"dev-libs/lib-2": slot})
    old, new, app = first["dev-libs/lib-1"], second["dev-libs/lib-2"], first[APP]
    record.builds = {old: (build_key("lib-1", True), 1.0), app: (build_key("app", True), 1.0), new: (build_key("lib-2", True), 2.0)}
    files.create("desk", "amd64", [new, app], Generation(GenerationRef("desk", "amd64", 1), 1.0))
    files.publish(GenerationRef("desk", "amd64", 1))
    service = Generations(files, record, FixedClock())  # type: ignore[arg-type]
    before = du(binhost)
    budget = before - (binhost / "amd64" / old).stat().st_blocks * 512
    done = service.purge(5, budget=budget)
    assert done.budget is not None and done.removed == ()
    if slot == "2":
        assert "cannot be met" in done.budget.problem and done.budget.pruned == () and (binhost / "amd64" / old).is_file()
        return
    assert not done.budget.problem and done.budget.pruned == (f"amd64/{old}",) and du(binhost) == budget
    assert not (binhost / "amd64" / old).exists()
    publisher = BinhostPublisher(binhost)  # what planning asks: lib-1's identity is not held any more, it is built again
    assert not publisher.holds("amd64", old) and publisher.holds("amd64", new) and not publisher.holds("amd64", "")
    assert {e.path for e in parse_index((binhost / "amd64" / "Packages").read_text())[1]} == {new, app}
    assert served_whole(files.area("desk", "amd64")) == (1, 2)


def test_a_budget_already_met_removes_nothing(world: tuple[Generations, GenerationFiles, BudgetRecord, dict[str, str]]) -> None:
    service, files, _, _ = world
    done = service.purge(5, budget=du(files.binhost))
    assert done.budget is not None and done.removed == () and done.budget.pruned == () and done.budget.freed == 0


@pytest.mark.parametrize("protect", ["keep", "tag", "running"])
def test_what_is_protected_or_running_stays_and_the_budget_says_it_cannot_be_met(
        world: tuple[Generations, GenerationFiles, BudgetRecord, dict[str, str]], protect: str) -> None:
    service, files, record, paths = world
    first = GenerationRef("desk", "amd64", 1)
    if protect == "keep":
        service.keep(first, True)
    elif protect == "tag":
        service.tag(first, "stable")
    else:
        record.running = frozenset({LIB})
    done = service.purge(0, budget=1)
    assert done.budget is not None and "cannot be met" in done.budget.problem and "\n" not in done.budget.problem
    assert (files.binhost / "amd64" / paths["old"]).is_file()
    if protect == "running":  # generation 1 went (nothing protects it); the staging file a drone may fetch stays
        assert done.removed == ("desk/amd64/1",) and done.budget.pruned == ()
    else:
        assert done.removed == () and files.files(first)


def test_sizes() -> None:
    assert parse_size("20G") == 20 * 1024**3 and parse_size("500M") == 500 * 1024**2 and parse_size("1.5k") == 1536
    assert parse_size("4096") == 4096 and parse_size(" 2 GiB ") == 2 * 1024**3
    with pytest.raises(ValueError, match=r"e\.g\. 20G"):
        parse_size("lots")
    assert format_size(1536) == "1.5K" and format_size(20 * 1024**3) == "20.0G" and format_size(800) == "800B"


def test_superseded_keeps_the_newest_of_each_package_slot_and_kind_unknown_named_and_running() -> None:
    x, y, v2, sim = build_key("x", False), build_key("y", False), build_key("v2", False), build_key("x", True)
    builds = [StagedBuild("a/b/b-1-1.gpkg.tar", "a/b-1", x, 1.0), StagedBuild("a/b/b-1-2.gpkg.tar", "a/b-1", x, 2.0),
              StagedBuild("a/b/b-1-3.gpkg.tar", "a/b-1", y, 0.5), StagedBuild("a/c/c-1-1.gpkg.tar", "a/c-1", "", 0.0),
              StagedBuild("a/c/c-1-2.gpkg.tar", "a/c-1", "", 1.0), StagedBuild("a/b/b-2-1.gpkg.tar", "a/b-2", v2, 3.0, "1/2"),
              StagedBuild("a/b/b-1-4.gpkg.tar", "a/b-1", sim, 5.0), StagedBuild("a/b/b-0-1.gpkg.tar", "a/b-0", sim, 4.0)]
    # a/b SLOT 0 built for real: the rebuild b-1-2 is the newest; b-2 (SLOT 1) and simulated builds do not count
    assert superseded(builds, [], []) == ["a/b/b-0-1.gpkg.tar", "a/b/b-1-1.gpkg.tar", "a/b/b-1-3.gpkg.tar"]
    assert superseded(builds, ["a/b/b-1-1.gpkg.tar"], []) == ["a/b/b-0-1.gpkg.tar", "a/b/b-1-3.gpkg.tar"]
    assert superseded(builds, [], ["a/b-1", "a/b-0"]) == []
    assert superseded([StagedBuild("bad/1.gpkg.tar", "nocpv", x, 1.0), StagedBuild("bad/2.gpkg.tar", "nocpv", x, 2.0)], [], []) == []
    disk = DiskMap({(1, 1): 10, (1, 2): 20}, {"p/a/1": frozenset({(1, 1)})}, {("amd64", "x"): (1, 1), ("amd64", "y"): (1, 2)})
    assert disk.used() == 30 and disk.used(["p/a/1"]) == 30 and disk.used(["p/a/1"], [("amd64", "x")]) == 20
    assert disk_map(Path("/nonexistent")).used() == 0
