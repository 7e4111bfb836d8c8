"""The pure graph logic: merge-order edge split, dispatch gates, skip closure, waves."""

from __future__ import annotations

import graphlib

from swarm_celery.domain.graph import dependents_closure, dispatch_gates, initially_ready, split_by_merge_order, waves
from swarm_celery.domain.model import EdgeKind, Plan, PlannedPackage

B, R, P = EdgeKind.BUILD, EdgeKind.RUN, EdgeKind.POST


def pkg(cpv: str, build: tuple[str, ...] = (), run: tuple[str, ...] = (), post: tuple[str, ...] = ()) -> PlannedPackage:
    return PlannedPackage(cpv, "0", "0", "gentoo", (), build, run, post)


def test_split_keeps_edges_that_agree_with_merge_order_and_explains_the_rest() -> None:
    order = ["a/x-1", "a/y-1", "a/z-1"]
    edges = [("a/y-1", "a/x-1", B), ("a/x-1", "a/y-1", R), ("a/z-1", "a/z-1", B), ("a/z-1", "b/gone-1", B)]
    split = split_by_merge_order(edges, order)
    assert split.kept == (("a/y-1", "a/x-1", B),)
    reasons = {(d.parent, d.child): d.reason for d in split.dropped}
    assert "cycle broken" in reasons[("a/x-1", "a/y-1")]
    assert reasons[("a/z-1", "a/z-1")] == "self-dependency"
    assert reasons[("a/z-1", "b/gone-1")] == "not in the merge list"


def test_split_result_is_always_acyclic() -> None:
    order = [f"c/p{i}-1" for i in range(30)]
    edges = [(order[i], order[j], B) for i in range(30) for j in range(30) if (i * 7 + j * 3) % 5 == 0]
    split = split_by_merge_order(edges, order)
    sorter = graphlib.TopologicalSorter({p: set() for p in order})
    for parent, child, _ in split.kept:
        sorter.add(parent, child)
    list(sorter.static_order())  # raises CycleError if a cycle survived
    assert len(split.kept) + len(split.dropped) == len(edges)


def test_gates_include_runtime_closure_of_build_deps_and_of_the_package_itself() -> None:
    # app needs lib to build; lib needs rt at run time; rt needs base at run time; tool needs app at run time.
    plan = Plan(
        packages=(pkg("s/base-1"), pkg("s/rt-1", run=("s/base-1",)), pkg("s/lib-1", run=("s/rt-1",)),
                  pkg("s/app-1", build=("s/lib-1",)), pkg("s/tool-1", run=("s/app-1",))),
        merge_order=("s/base-1", "s/rt-1", "s/lib-1", "s/app-1", "s/tool-1"),
    )
    gates = dispatch_gates(plan)
    assert gates["s/app-1"] == {"s/lib-1", "s/rt-1", "s/base-1"}
    # the drone's emerge merges what it builds: run deps must be installable from the binhost, or it would compile them
    assert gates["s/tool-1"] == {"s/app-1"}  # app itself: lib is only what app needed to build
    assert gates["s/lib-1"] == {"s/rt-1", "s/base-1"}
    assert initially_ready(gates, plan.merge_order) == ["s/base-1"]


def test_post_deps_do_not_gate() -> None:
    plan = Plan(packages=(pkg("s/a-1"), pkg("s/b-1", build=("s/a-1",), post=("s/c-1",)), pkg("s/c-1")),
                merge_order=("s/a-1", "s/b-1", "s/c-1"))
    assert dispatch_gates(plan)["s/b-1"] == {"s/a-1"}


def test_dependents_closure_follows_gates_transitively() -> None:
    gates = {"a": frozenset(), "b": frozenset({"a"}), "c": frozenset({"b"}), "d": frozenset(), "e": frozenset({"d", "c"})}
    assert dependents_closure("a", gates) == {"b", "c", "e"}
    assert dependents_closure("d", gates) == {"e"}
    assert dependents_closure("e", gates) == set()


def test_waves_respect_gates() -> None:
    gates = {"a": frozenset(), "b": frozenset({"a"}), "c": frozenset({"a", "b"}), "d": frozenset()}
    assert waves(gates, ["a", "d", "b", "c"]) == [["a", "d"], ["b"], ["c"]]
