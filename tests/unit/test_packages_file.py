"""The staging Packages index on disk: updates in place, the same entries as a full rewrite, restarts, crash leftovers,
readers under concurrent updates. Portage itself reads the result in tests/integration/test_binhost_portage.py."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from swarm_celery.binhost import packages_file
from swarm_celery.binhost.index import IndexEntry, parse_index, render_index, select_index
from swarm_celery.binhost.packages_file import remove_from_index, remove_paths_from_index, upsert_index
from tests.unit.test_index import HEADER, entry


def read(index: Path) -> tuple[dict[str, str], list[IndexEntry]]:
    return parse_index(index.read_text())


def restart() -> None:
    """What a new coordinator process knows about the index files: nothing."""
    packages_file._STATES.clear()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    restart()


def test_upsert_creates_replaces_and_sorts_on_a_new_header(tmp_path: Path) -> None:
    index = tmp_path / "amd64" / "Packages"
    assert upsert_index(index, [entry("dev-lang/python-3.12.8_p1")], HEADER) == 1
    assert upsert_index(index, [entry("app-misc/tmux-3.5a"), entry("app-misc/tmux-3.5a", 2)], HEADER) == 3
    assert upsert_index(index, [entry("app-misc/tmux-3.5a", size=1)], {"ARCH": "amd64", "PROFILE": "default/linux/amd64/23.0"}) == 3
    header, entries = read(index)
    assert [(e.cpv, e.build_id, e.size) for e in entries] == [  # a new header key: written anew, in portage's order
        ("app-misc/tmux-3.5a", 1, 1), ("app-misc/tmux-3.5a", 2, 10240), ("dev-lang/python-3.12.8_p1", 1, 10240)]
    assert int(header["PACKAGES"]) == 3 and header["VERSION"] == "0" and header["CHOST"] == HEADER["CHOST"]
    assert header["PROFILE"] == "default/linux/amd64/23.0" and header["ACCEPT_KEYWORDS"] == "amd64"
    assert sorted(p.name for p in index.parent.iterdir()) == [".Packages.lock", ".Packages.offsets", "Packages"]
    assert index.stat().st_mode & 0o777 == 0o644


def test_a_batch_is_written_in_place_and_only_its_own_bytes_change(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry(f"a-b/c{i}-1") for i in range(50)], HEADER)
    before, inode = index.read_bytes(), index.stat().st_ino
    upsert_index(index, [entry("a-b/new-1"), entry("a-b/c3-1", size=7)], HEADER)  # one new, one replaced
    after = index.read_bytes()
    assert index.stat().st_ino == inode and len(after) == len(before)  # same file, same size: nothing was rewritten
    changed = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    end = before.index(b"\n\n\n") + 2
    head = before.index(b"\n\n")
    in_body = [i for i in changed if head < i <= end]
    assert len(in_body) == 2 and {after[i : i + 5] for i in in_body} == {b"#PV: ", b"BUILD"}  # the old c3 off, the batch on
    assert all(i < head or i > end for i in changed if i not in in_body)  # else only TIMESTAMP/PACKAGES and the batch
    entries = {(e.cpv, e.size) for e in read(index)[1]}
    assert ("a-b/c3-1", 7) in entries and ("a-b/c3-1", 10240) not in entries and ("a-b/new-1", 10240) in entries
    assert len(entries) == 51 and int(read(index)[0]["PACKAGES"]) == 51


def model_apply(model: dict[tuple[str, int], IndexEntry], op: str, arg: list[IndexEntry] | set[str]) -> None:
    """The update semantics, as the whole-index rewrite implemented them."""
    if op == "upsert":
        for e in arg:
            assert isinstance(e, IndexEntry)
            for key in [k for k, old in model.items() if k == (e.cpv, e.build_id) or (e.path and old.path == e.path)]:
                del model[key]
            model[(e.cpv, e.build_id)] = e
    elif op == "cpvs":
        for key in [k for k in model if k[0] in arg]:
            del model[key]
    else:
        for key in [k for k, old in model.items() if old.path in arg]:
            del model[key]


@pytest.mark.parametrize("slack", [256, 1 << 20])  # tiny: rewritten often when the zeros run out; big: always in place
def test_random_updates_give_the_same_entries_as_a_full_rewrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: int) -> None:
    monkeypatch.setattr(packages_file, "MIN_SLACK", slack)
    rng = random.Random(slack)
    index = tmp_path / "Packages"
    model: dict[tuple[str, int], IndexEntry] = {}
    for step in range(150):
        kind = rng.random()
        if kind < 0.7 or not model:
            batch = [entry(f"c-{rng.randrange(4)}/p{rng.randrange(40)}-1", rng.randrange(1, 3), size=step,
                           rdepend=" ".join(f"d/x{j}" for j in range(rng.randrange(5)))) for _ in range(rng.randrange(1, 6))]
            if rng.random() < 0.1:  # another build under a path already indexed
                victim = rng.choice(list(model.values())) if model else batch[0]
                batch.append(entry(f"c-9/q{step}-1", 5, path=victim.path))
            upsert_index(index, batch, HEADER)
            model_apply(model, "upsert", batch)
        elif kind < 0.85:
            cpvs = {rng.choice(list(model))[0]}
            remove_from_index(index, cpvs, {})
            model_apply(model, "cpvs", cpvs)
        else:
            paths = {rng.choice(list(model.values())).path, "x/absent.gpkg.tar"}
            remove_paths_from_index(index, paths, {})
            model_apply(model, "paths", paths)
        if rng.random() < 0.1:
            restart()
        header, entries = read(index)
        assert sorted(entries, key=lambda e: (e.cpv, e.build_id)) == parse_index(render_index(HEADER, model.values()))[1]
        assert int(header["PACKAGES"]) == len(model)


def test_a_restarted_process_goes_on_in_place(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry(f"a-b/c{i}-1") for i in range(20)], HEADER)
    inode = index.stat().st_ino
    restart()
    upsert_index(index, [entry("a-b/c5-1", size=1), entry("a-b/d-1")], HEADER)
    restart()
    assert remove_paths_from_index(index, ["a-b/c7/c7-1-1.gpkg.tar"], {}) == 20
    assert index.stat().st_ino == inode
    entries = {e.cpv: e.size for e in read(index)[1]}
    assert len(entries) == 20 and entries["a-b/c5-1"] == 1 and "a-b/c7-1" not in entries and "a-b/d-1" in entries


def test_a_restart_reads_the_sidecar_and_scans_only_what_came_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry(f"a-b/c{i}-1") for i in range(30)], HEADER)
    upsert_index(index, [entry("a-b/late-1")], HEADER)
    remove_from_index(index, ["a-b/c4-1"], {})  # turned off after the sidecar was written
    restart()
    monkeypatch.setattr(packages_file, "scan", lambda data: pytest.fail("scanned the whole file"))
    assert upsert_index(index, [entry("a-b/late-1", size=2), entry("a-b/c9-1", size=3), entry("a-b/new-1")], HEADER) == 31
    entries = {e.cpv: e.size for e in read(index)[1]}
    assert len(entries) == 31 and "a-b/c4-1" not in entries and (entries["a-b/late-1"], entries["a-b/c9-1"]) == (2, 3)


def test_a_sidecar_that_does_not_fit_the_file_is_not_trusted(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry(f"a-b/c{i}-1") for i in range(30)], HEADER)
    data = index.read_bytes()
    with index.open("r+b") as handle:  # the same inode, other offsets (someone edited it): every CPV line moves
        handle.write(data.replace(b"ARCH: amd64\n", b"ARCH: amd64\nX: y\n", 1)[: len(data)])
    restart()
    upsert_index(index, [entry("a-b/c7-1", size=5)], HEADER)
    entries = read(index)[1]
    assert len(entries) == 30 and [e.size for e in entries if e.cpv == "a-b/c7-1"] == [5] and b"X: y" in index.read_bytes()
    assert all(len(e.sha1) == 40 and e.build_time == 1_700_000_000 for e in entries)


def test_an_index_portage_or_an_older_build_wrote_is_taken_over(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    index.write_text(render_index({**HEADER, "TIMESTAMP": "1700000000", "VERSION": "0"}, [entry("a-b/old-1"), entry("a-b/other-1")]))
    assert upsert_index(index, [entry("a-b/new-1"), entry("a-b/old-1", size=3)], HEADER) == 3
    header, entries = read(index)
    assert [(e.cpv, e.size) for e in entries] == [("a-b/new-1", 10240), ("a-b/old-1", 3), ("a-b/other-1", 10240)]
    assert int(header["TIMESTAMP"]) > 1_700_000_000


def test_a_new_chost_renders_every_entry_again(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1", chost="x86_64-pc-linux-gnu")], HEADER)  # left out: it is the header's
    upsert_index(index, [entry("a-b/d-1", chost="aarch64-unknown-linux-gnu")], {**HEADER, "CHOST": "aarch64-unknown-linux-gnu"})
    assert {e.cpv: e.chost for e in read(index)[1]} == {"a-b/c-1": "x86_64-pc-linux-gnu", "a-b/d-1": "aarch64-unknown-linux-gnu"}


def test_timestamp_strictly_increases_and_the_file_mtime_is_portages_if_modified_since(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    stamps = []
    for i in range(5):
        upsert_index(index, [entry(f"a-b/c-{i}")], HEADER)
        stamps.append(int(read(index)[0]["TIMESTAMP"]))
        assert int(index.stat().st_mtime) == stamps[-1] + 5  # portage asks If-Modified-Since TIMESTAMP + 5 s
    assert stamps == sorted(set(stamps)) and stamps[0] >= int(time.time()) - 5


def test_stale_packages_gz_is_removed(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1")], HEADER)
    for _ in range(2):  # written anew, then in place
        (tmp_path / "Packages.gz").write_bytes(b"stale")
        upsert_index(index, [entry("a-b/c-2")], HEADER)
        assert not (tmp_path / "Packages.gz").exists()


def test_remove_from_index(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1"), entry("a-b/c-1", 2), entry("a-b/d-1")], HEADER)
    assert remove_from_index(index, ["a-b/c-1", "x-y/absent-1"], HEADER) == 1
    header, entries = read(index)
    assert [e.cpv for e in entries] == ["a-b/d-1"] and int(header["PACKAGES"]) == 1
    assert remove_from_index(tmp_path / "other" / "Packages", ["a-b/c-1"], HEADER) == 0


def test_a_generation_index_takes_only_live_entries(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1"), entry("a-b/d-1")], HEADER)
    upsert_index(index, [entry("a-b/c-1", size=5)], HEADER)  # the first c-1 block stays in the file, turned off
    text = index.read_text()
    wanted = {"a-b/c/c-1-1.gpkg.tar", "a-b/d/d-1-1.gpkg.tar"}
    cut, found = select_index(text, wanted, {"TIMESTAMP": "1800000000"})
    assert found == wanted and [(e.cpv, e.size) for e in parse_index(cut)[1]] == [("a-b/d-1", 10240), ("a-b/c-1", 5)]
    assert parse_index(cut)[0]["PACKAGES"] == "2" and "\0" not in cut


# ----------------------------------------------------------------------------------------- crashes


def test_a_batch_written_but_never_made_visible_is_cleared(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1")], HEADER)
    data = index.read_bytes()
    end = data.index(b"\n\n\n") + 2
    with index.open("r+b") as handle:  # a crash between writing a batch and the byte that shows it
        handle.seek(end + 1)
        handle.write(b"UILD_ID: 1\nCPV: a-b/ghost-1\nPATH: a-b/ghost/ghost-1-1.gpkg.tar\n\n\n" * 3)
    restart()
    upsert_index(index, [entry("a-b/d-1")], HEADER)
    assert [e.cpv for e in read(index)[1]] == ["a-b/c-1", "a-b/d-1"]
    data = index.read_bytes()
    assert not data[data.index(b"\n\n\n") + 3 :].strip(b"\0")  # nothing of the ghost batch is left behind the end


def test_entries_a_crash_left_doubled_are_repaired(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1"), entry("a-b/d-1")], HEADER)
    data = index.read_bytes()
    replaced = data.replace(b"\n#PV: ", b"\nCPV: ")
    upsert_index(index, [entry("a-b/c-1", size=9)], HEADER)
    index.write_bytes(index.read_bytes().replace(b"\n#PV: ", b"\nCPV: "))  # a crash before the old c-1 was turned off
    assert replaced == data and sorted(e.cpv for e in read(index)[1]) == ["a-b/c-1", "a-b/c-1", "a-b/d-1"]
    restart()
    assert upsert_index(index, [entry("a-b/e-1")], HEADER) == 3
    assert {(e.cpv, e.size) for e in read(index)[1]} == {("a-b/c-1", 9), ("a-b/d-1", 10240), ("a-b/e-1", 10240)}


def test_a_batch_cut_short_by_a_power_failure_is_dropped(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/c-1")], HEADER)
    upsert_index(index, [entry(f"a-b/x{i}-1") for i in range(30)], HEADER)
    data = bytearray(index.read_bytes())
    at = data.index(b"CPV: a-b/x20-1")
    data[at : at + 600] = bytes(600)  # a page of the batch never reached the disk: it reads as zeros
    index.write_bytes(bytes(data))
    restart()
    upsert_index(index, [entry("a-b/y-1")], HEADER)
    cpvs = [e.cpv for e in read(index)[1]]
    assert cpvs[0] == "a-b/c-1" and cpvs[-1] == "a-b/y-1" and "a-b/x19-1" in cpvs and "a-b/x20-1" not in cpvs
    assert all(len(e.sha1) == 40 for e in read(index)[1]) and b"\0" not in index.read_bytes().split(b"\n\n\n")[0]


# ----------------------------------------------------------------------------------------- concurrency


def test_readers_never_see_a_partial_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packages_file, "MIN_SLACK", 4096)  # both paths: in place, and written anew when the zeros run out
    index = tmp_path / "Packages"
    upsert_index(index, [entry("a-b/seed-1")], HEADER)
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def reader() -> None:
        while not done.is_set():
            header, entries = parse_index(index.read_text())
            batches = {e.cpv[5:8] for e in entries if e.cpv.startswith("a-b/p")}
            whole = all(sum(1 for e in entries if e.cpv.startswith(f"a-b/p{b}")) == 3 for b in batches)
            if not whole or any(len(e.sha1) != 40 or not e.path.endswith(".gpkg.tar") for e in entries) or "TIMESTAMP" not in header:
                problems.append(str([e.cpv for e in entries]))
            seen.append(len(entries))
            time.sleep(0.0002)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(150):  # batches of three: a reader sees all three or none
            upsert_index(index, [entry(f"a-b/p{i:03d}{k}-1", rdepend=" ".join(f"dep/x{j}" for j in range(i % 20))) for k in "xyz"], HEADER)
    finally:
        done.set()
        thread.join()
    assert not problems, problems[:3]
    assert len(seen) > 10 and seen == sorted(seen)
    assert len(read(index)[1]) == 451
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_concurrent_upserts_lose_nothing(tmp_path: Path) -> None:
    index = tmp_path / "Packages"

    def publisher(n: int) -> None:
        for i in range(25):
            upsert_index(index, [entry(f"cat-{n}/pkg-{i}")], HEADER)

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    header, entries = read(index)
    assert len(entries) == 100 and int(header["PACKAGES"]) == 100


def test_a_batch_naming_a_package_twice_keeps_the_last(tmp_path: Path) -> None:
    index = tmp_path / "Packages"
    batch = [entry("a-b/c-1", size=1), entry("a-b/d-1"), entry("a-b/c-1", size=2), entry("a-b/e-1", 3, path="a-b/d/d-1-1.gpkg.tar")]
    assert upsert_index(index, batch, HEADER) == 2
    assert upsert_index(index, batch, HEADER) == 2  # the same batch again: in place this time
    assert sorted((e.cpv, e.size) for e in read(index)[1]) == [("a-b/c-1", 2), ("a-b/e-1", 10240)]
