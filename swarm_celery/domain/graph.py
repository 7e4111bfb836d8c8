"""The build graph: from portage's typed edges to the dispatch gates.

Pure functions over a :class:`~swarm_celery.domain.model.Plan`:

* :func:`split_by_merge_order` keeps only the edges that agree with portage's merge
  order (a child merged before its parent) and reports the others as dropped: those
  are exactly portage's cycle breaks.
* :func:`dispatch_gates` says, for each package, which packages must be *published*
  before it may be dispatched: its build dependencies and everything those need at
  run time (a drone installs them as binary packages, so they must be installable).
* :func:`dependents_closure` says which packages can no longer be built when one fails.

The coordinator persists the gates once per plan; "is it ready?" is then a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swarm_celery.domain.model import DroppedEdge, EdgeKind, Plan, PlannedPackage

Edge = tuple[str, str, EdgeKind]  # (parent, child, kind): parent depends on child

GATE_KINDS = (EdgeKind.BUILD, EdgeKind.INSTALL)


@dataclass(frozen=True, slots=True)
class EdgeSplit:
    kept: tuple[Edge, ...]
    dropped: tuple[DroppedEdge, ...]


def split_by_merge_order(edges: Iterable[Edge], merge_order: Iterable[str]) -> EdgeSplit:
    """Keep edges whose child is merged before its parent; drop (and explain) the rest.

    Edges naming a package outside the merge order (installed baseline packages
    portage did not re-merge) are dropped with that reason too.
    """
    position = {cpv: i for i, cpv in enumerate(merge_order)}
    kept: list[Edge] = []
    dropped: list[DroppedEdge] = []
    for parent, child, kind in edges:
        if parent == child:
            dropped.append(DroppedEdge(parent, child, kind, "self-dependency"))
        elif parent not in position or child not in position:
            dropped.append(DroppedEdge(parent, child, kind, "not in the merge list"))
        elif position[child] < position[parent]:
            kept.append((parent, child, kind))
        else:
            dropped.append(
                DroppedEdge(parent, child, kind, "cycle broken by portage: merged after its dependent")
            )
    return EdgeSplit(tuple(kept), tuple(dropped))


def dispatch_gates(plan: Plan) -> dict[str, frozenset[str]]:
    """For each package: what must be published before it can be built.

    The build (and install-time) dependencies, plus the run-time closure of each
    of them (RDEPEND, transitively), plus the package's own run-time closure (a
    drone's emerge merges what it builds, and merging needs its RDEPEND: unpublished,
    the drone would compile them itself), limited to packages of the plan. Edges
    portage's merge order contradicts were dropped as cycle breaks, so this stays a DAG;
    a PDEPEND cycle (A PDEPEND B, B RDEPEND A) still makes the drone that builds A
    build B from source as well (the swarm's own build of B is the one published).
    """
    packages = plan.by_cpv()
    run_closure: dict[str, frozenset[str]] = {}
    gates: dict[str, frozenset[str]] = {}
    for cpv in plan.merge_order:  # children come first: closures are ready when needed
        pkg = packages[cpv]
        run_closure[cpv] = _closure(pkg.run_deps, run_closure, packages)
        direct = [d for kind in GATE_KINDS for d in pkg.deps(kind) if d in packages]
        gates[cpv] = _closure(direct, run_closure, packages) | run_closure[cpv]
    return gates


def _closure(
    roots: Iterable[str],
    run_closure: Mapping[str, frozenset[str]],
    packages: Mapping[str, PlannedPackage],
) -> frozenset[str]:
    result: set[str] = set()
    for dep in roots:
        if dep in packages:
            result.add(dep)
            result |= run_closure.get(dep, frozenset())
    return frozenset(result)


def dependents_closure(failed: str, gates: Mapping[str, frozenset[str]]) -> set[str]:
    """Every package that (transitively) needs ``failed`` published before it can build."""
    reverse: dict[str, set[str]] = {}
    for cpv, needs in gates.items():
        for dep in needs:
            reverse.setdefault(dep, set()).add(cpv)
    seen: set[str] = set()
    stack = [failed]
    while stack:
        for dependent in reverse.get(stack.pop(), ()):
            if dependent not in seen:
                seen.add(dependent)
                stack.append(dependent)
    return seen


def initially_ready(gates: Mapping[str, frozenset[str]], merge_order: Iterable[str]) -> list[str]:
    """Packages with nothing to wait for, in merge order."""
    return [cpv for cpv in merge_order if not gates.get(cpv)]


def waves(gates: Mapping[str, frozenset[str]], merge_order: Iterable[str]) -> list[list[str]]:
    """Group packages into waves: wave n needs only packages of waves < n (for display and tests)."""
    level: dict[str, int] = {}
    for cpv in merge_order:
        needs = gates.get(cpv, frozenset())
        level[cpv] = 1 + max((level[d] for d in needs if d in level), default=-1)
    result: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for cpv, n in level.items():
        result[n].append(cpv)
    return result
