"""Generations on disk: hard links into staging, an index per generation, publishing by a symlink switch."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.binhost.generations import GenerationFiles, served_path
from swarm_celery.binhost.index import parse_index
from swarm_celery.domain.generations import Generation, GenerationRef
from swarm_celery.errors import NotFoundError, UserError
from swarm_celery.resolve.snapshot import TreeSnapshots
from tests.generations_kit import served_whole, stage

CPVS = ["dev-libs/lib-1", "app-misc/app-1", "app-misc/tool-2"]


def made(profile: str = "desk") -> Generation:
    return Generation(GenerationRef(profile, "amd64", 1), 1000.0, "s1", "snap1", "/repo")


def test_a_generation_links_the_staging_files_and_indexes_only_them(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    paths = stage(binhost, CPVS)
    files = GenerationFiles(binhost)
    first = files.create("desk", "amd64", [paths["dev-libs/lib-1"], paths["app-misc/app-1"]], made())
    assert (str(first.ref), first.packages, first.snapshot) == ("desk/amd64/1", 2, "snap1")
    area = files.area("desk", "amd64")
    for path in (paths["dev-libs/lib-1"], paths["app-misc/app-1"]):
        assert (area / "1" / served_path(path)).stat().st_ino == (binhost / "amd64" / path).stat().st_ino  # no data copied
    assert {e.cpv for e in parse_index((area / "1" / "Packages").read_text())[1]} == {"dev-libs/lib-1", "app-misc/app-1"}
    assert files.published("desk", "amd64") is None
    files.publish(first.ref)
    assert served_whole(area) == (1, 2)
    assert files.files(first.ref) == {"dev-libs/lib-1-1.gpkg.tar", "app-misc/app-1-1.gpkg.tar"}


def test_publishing_an_older_generation_gives_its_index_a_newer_timestamp(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    paths = stage(binhost, CPVS)
    files = GenerationFiles(binhost)
    one = files.create("desk", "amd64", [paths[CPVS[0]]], made()).ref
    two = files.create("desk", "amd64", list(paths.values()), made()).ref
    files.publish(two)
    stamp_two = _timestamp(files.area("desk", "amd64") / "current" / "Packages")
    files.publish(one)  # a rollback: portage clients re-read an index only when its TIMESTAMP moved
    assert _timestamp(files.area("desk", "amd64") / "current" / "Packages") > stamp_two
    assert served_whole(files.area("desk", "amd64")) == (1, 1)
    assert files.marks("desk", "amd64").history == (2, 1)


def test_removing_a_generation_leaves_staging_and_the_others_alone(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    paths = stage(binhost, CPVS)
    files = GenerationFiles(binhost)
    one = files.create("desk", "amd64", list(paths.values()), made()).ref
    two = files.create("desk", "amd64", list(paths.values()), made()).ref
    files.publish(two)
    with pytest.raises(ValueError, match="is published"):
        files.remove(two)
    files.remove(one)
    assert [g.ref for g in files.all()] == [two] and served_whole(files.area("desk", "amd64")) == (2, 3)
    assert all((binhost / "amd64" / p).is_file() for p in paths.values())
    with pytest.raises(NotFoundError, match="no generation desk/amd64/1"):
        files.get(one)


def test_a_package_missing_from_staging_is_named(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    stage(binhost, CPVS[:1])
    with pytest.raises(NotFoundError, match="lacks 1 of the generation's packages"):
        GenerationFiles(binhost).create("desk", "amd64", ["app-misc/nope/nope-1-1.gpkg.tar"], made())
    assert GenerationFiles(binhost).all() == []


def test_gc_finds_staging_files_no_index_names_and_leftovers(tmp_path: Path) -> None:
    binhost = tmp_path / "binhost"
    stage(binhost, CPVS)
    stray = binhost / "amd64" / "app-misc" / "app" / "app-0-1.gpkg.tar"
    stray.write_bytes(b"x")
    files = GenerationFiles(binhost)
    (files.area("desk", "amd64") / ".3.tmp-123").mkdir(parents=True)
    assert files.orphans("amd64") == [stray]
    assert [p.name for p in files.sweep(dry_run=True)] == [".3.tmp-123"]
    files.sweep()
    assert files.sweep(dry_run=True) == []


def _timestamp(index: Path) -> int:
    return int(parse_index(index.read_text())[0]["TIMESTAMP"])


def test_a_generation_serves_its_snapshot_as_a_zip_portage_can_sync(tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    (tree / "profiles").mkdir(parents=True)
    (tree / "profiles" / "repo_name").write_text("swarm-test\n")
    (tree / "app-misc" / "app").mkdir(parents=True)
    (tree / "app-misc" / "app" / "app-1.ebuild").write_text("EAPI=8\n")
    snapshot = TreeSnapshots(tmp_path / "snapshots").take(tree, "print", "test")
    binhost = tmp_path / "binhost"
    paths = stage(binhost, CPVS)
    files = GenerationFiles(binhost)
    first = files.create("desk", "amd64", list(paths.values()), replace(made(), snapshot=snapshot.id), Path(snapshot.path))
    second = files.create("desk", "amd64", list(paths.values()), replace(made(), snapshot=snapshot.id), Path(snapshot.path))
    zips = [files.area("desk", "amd64") / str(g.ref.number) / "tree.zip" for g in (first, second)]
    assert zips[0].stat().st_ino == zips[1].stat().st_ino  # one zip per snapshot, shared
    with zipfile.ZipFile(zips[0]) as archive:
        assert {"repo/profiles/repo_name", "repo/app-misc/app/app-1.ebuild"} <= set(archive.namelist())
    assert files.tree_repo(first.ref) == "swarm-test"
    assert files.sweep(dry_run=True) == []  # the shared zip is served
    files.remove(first.ref)
    files.remove(second.ref)
    assert [p.name for p in files.sweep()] == [f"{snapshot.id}.zip"]  # served by no generation now
    assert files.tree_repo(files.create("desk", "amd64", list(paths.values()), made()).ref) == ""  # no snapshot, no tree


@pytest.mark.parametrize(("profile", "arch"), [("../..", "amd64"), ("desk", "../x"), ("desk/amd64", "1"), ("", "amd64")])
def test_a_profile_or_arch_that_is_not_a_name_never_becomes_a_path(tmp_path: Path, profile: str, arch: str) -> None:
    files = GenerationFiles(tmp_path / "binhost")
    with pytest.raises(UserError, match="give a build profile's name"):
        files.area(profile, arch)
    with pytest.raises(UserError, match="give a build profile's name"):
        files.all(profile or "../x", arch)
