"""Generations, pure: names, marks, where a rollback goes, what purge keeps, how two generations differ."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarm_celery.domain.generations import (
    GenerationRef,
    GenPackage,
    Marks,
    bucketed,
    diff_generations,
    protected,
    rollback_target,
    to_purge,
)


def test_a_generation_is_named_profile_arch_number() -> None:
    ref = GenerationRef.parse("desktop/amd64/3")
    assert (ref.profile, ref.arch, ref.number, str(ref)) == ("desktop", "amd64", 3, "desktop/amd64/3")
    for bad in ("desktop/amd64", "desktop/amd64/0", "Desk!/amd64/1", "a/b/c", "../amd64/1"):
        with pytest.raises(ValueError, match="PROFILE/ARCH/N"):
            GenerationRef.parse(bad)


def test_marks_round_trip_and_refuse_bad_tags() -> None:
    marks = Marks().tag("stable", 2).keep(3, True).published(1).published(2)
    assert Marks.from_json(marks.to_json()) == marks
    assert marks.tags_of(2) == ["stable"] and marks.untag("stable").tags == {}
    assert marks.keep(3, False).kept == frozenset()
    with pytest.raises(ValueError, match="tag"):
        marks.tag("no spaces", 1)


def test_rollback_goes_to_the_generation_published_before_the_current_one() -> None:
    marks = Marks(history=(1, 2, 3))
    assert rollback_target(3, marks, [1, 2, 3]) == 2
    assert rollback_target(2, Marks(history=(1, 2, 3, 2)), [1, 2, 3]) == 3  # published back and forth: the one before
    assert rollback_target(3, marks, [1, 3]) == 1  # 2 was purged
    assert rollback_target(1, Marks(history=(1,)), [1]) is None
    assert rollback_target(4, marks, [1, 2, 3, 4]) == 3  # switched, then the process died before the history was written


def test_purge_keeps_the_newest_tagged_kept_and_published() -> None:
    marks = Marks(tags={"good": 2}, kept=frozenset({4}))
    assert protected(range(1, 11), marks, 5, 2) == {10: "one of the newest 2", 9: "one of the newest 2", 2: "tagged good",
                                                     4: "kept", 5: "published"}
    assert to_purge(range(1, 11), marks, 5, 2) == [1, 3, 6, 7, 8]


@given(st.lists(st.integers(1, 30), max_size=30), st.lists(st.integers(1, 30), max_size=4), st.lists(st.integers(1, 30), max_size=4),
       st.one_of(st.none(), st.integers(1, 30)), st.integers(0, 5))
def test_purge_never_removes_a_protected_generation(numbers: list[int], tagged: list[int], kept: list[int], published: int | None,
                                                   keep_last: int) -> None:
    marks = Marks(tags={f"t{i}": n for i, n in enumerate(tagged)}, kept=frozenset(kept))
    gone = set(to_purge(numbers, marks, published, keep_last))
    assert not gone & (set(tagged) | set(kept) | {published})
    assert not gone & set(sorted(set(numbers), reverse=True)[:keep_last])
    assert gone | set(protected(numbers, marks, published, keep_last)) == set(numbers)


def test_diff_says_what_changed_by_identity_and_why() -> None:
    old = [GenPackage("dev-libs/lib-1", "0/1", ("ssl",)), GenPackage("app-misc/app-1", "0", ("x",), "dev-libs/lib:0/1="),
           GenPackage("app-misc/gone-1", "0")]
    new = [GenPackage("dev-libs/lib-2", "0/2", ("ssl", "zstd")), GenPackage("app-misc/app-1", "0", ("x",), "dev-libs/lib:0/2="),
           GenPackage("app-misc/new-1", "0")]
    diff = diff_generations(old, new)
    assert (diff.added, diff.removed, diff.same) == (("app-misc/new-1",), ("app-misc/gone-1",), 0)
    reasons = {c.key: c.reasons for c in diff.changed}
    assert reasons["dev-libs/lib:0"] == ("version 1 → 2", "SLOT 0/1 → 0/2", "USE +zstd")
    assert reasons["app-misc/app:0"] == ("sub-slot binding dev-libs/lib:0/2",)


def test_age_buckets_keep_the_newest_of_each_day_week_and_month() -> None:
    day, now = 86400.0, 400 * 86400.0
    created = {1: now - 2 * day - 10, 2: now - 2 * day - 5, 3: now - 10, 4: now - 20, 5: now - 20 * day, 6: now - 200 * day,
               7: now - 390 * day}
    assert bucketed(created, now) == {3: "the newest of its day", 2: "the newest of its day", 5: "the newest of its week",
                                      6: "the newest of its month"}  # 1 and 4 share a day with newer ones; 7 is over a year old
    assert to_purge(created, Marks(), None, 0, bucketed(created, now)) == [1, 4, 7]
