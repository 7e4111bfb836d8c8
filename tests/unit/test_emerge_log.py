"""The emerge.log parser on the three real logs in ../shared/data/emerge-logs (from emlop's tests) and on edge cases."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from swarm_celery.domain.emerge_log import LoggedBuild, parse_emerge_log


def read(shared: Path, name: str) -> str:
    return (shared / "data" / "emerge-logs" / name).read_bytes().decode("utf-8", errors="replace")


def test_a_real_log_of_parallel_world_updates(shared: Path) -> None:
    text = read(shared, "emlop_tests_emerge.10000.log")
    log = parse_emerge_log(text)
    completions = text.count("::: completed emerge (")
    assert completions == 832 and len(log.builds) == completions - 1  # the file opens on a completion whose start is cut off
    assert log.unreadable == 0 and log.binary_merges == 0
    assert log.unfinished == text.count(">>> emerge (") - len(log.builds)  # every start either completed or is counted
    chromium = [b for b in log.builds if b.cpv.startswith("www-client/chromium-")]
    assert chromium and max(b.seconds for b in chromium) == 28563  # 7 h 56 m
    first = next(b for b in log.builds if b.cpv == "sys-process/parallel-20171222")
    assert (first.started, first.finished) == (1517699495, 1517699507)
    ordered = sorted(log.builds, key=lambda b: b.started)
    overlapping = sum(1 for a, b in itertools.pairwise(ordered) if b.started < a.finished)
    assert overlapping > 100  # --jobs: builds interleave, and are paired by CPV, not by order
    assert all(b.seconds >= 0 for b in log.builds)


def test_a_log_with_nul_bytes_and_a_log_across_a_dst_change(shared: Path) -> None:
    nul = parse_emerge_log(read(shared, "emlop_tests_emerge.nullbytes.log"))
    assert len(nul.builds) == 14 and nul.unreadable == 1
    assert {b.cpv: b.seconds for b in nul.builds}["app-emulation/wine-1.4_rc1"] == 1512
    dst = parse_emerge_log(read(shared, "emlop_tests_emerge.dst.log"))
    assert [b.cpv for b in dst.builds] == ["dev-libs/libksba-1.5.0", "sys-boot/grub-2.06_rc1", "sys-apps/install-xattr-0.8",
                                          "sys-devel/m4-1.4.18-r2"]
    assert dst.unfinished == 1  # dev-libs/nspr-4.30 starts and the file ends
    assert {b.cpv: b.seconds for b in dst.builds}["dev-libs/libksba-1.5.0"] == 20  # epoch seconds: no DST arithmetic


@pytest.mark.parametrize(("text", "builds", "unfinished", "binary", "unreadable"), [
    ("100:  >>> emerge (1 of 1) a/b-1 to /\n160:  ::: completed emerge (1 of 1) a/b-1 to /\n", [LoggedBuild("a/b-1", 100, 160)], 0, 0, 0),
    ("100:  >>> emerge (1 of 1) a/b-1 to /\n101:  === (1 of 1) Merging Binary (a/b-1::/var/cache/binpkgs/a/b-1.gpkg.tar)\n"
     "105:  ::: completed emerge (1 of 1) a/b-1 to /\n", [], 0, 1, 0),
    ("100:  >>> emerge (1 of 2) a/b-1 to /\n200:  >>> emerge (1 of 1) a/b-1 to /\n230:  ::: completed emerge (1 of 1) a/b-1 to /\n",
     [LoggedBuild("a/b-1", 200, 230)], 1, 0, 0),  # the first attempt failed; the second was a new emerge
    ("garbage\n\x00\x00\x00\n100:  ::: completed emerge (1 of 1) a/b-1 to /\n100:  >>> emerge (1 of 1) c/d-2 to /\n", [], 1, 0, 1),
    ("", [], 0, 0, 0),
])
def test_edge_cases(text: str, builds: list[LoggedBuild], unfinished: int, binary: int, unreadable: int) -> None:
    log = parse_emerge_log(text)
    assert (list(log.builds), log.unfinished, log.binary_merges, log.unreadable) == (builds, unfinished, binary, unreadable)
