"""Talking to portage's depgraph: load trees in a private root, resolve, read typed edges.

Runs only inside the resolver subprocess (:mod:`swarm_celery.resolve.runner`),
after ``PORTAGE_OVERRIDE_EPREFIX`` points portage at the private root. Uses
portage's private API (``backtrack_depgraph``, ``_dynamic_config.digraph``):
portage is pinned in pyproject.toml for that reason.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import portage
from _emerge.actions import expand_set_arguments
from _emerge.create_depgraph_params import create_depgraph_params
from _emerge.depgraph import backtrack_depgraph
from _emerge.Package import Package
from _emerge.RootConfig import RootConfig
from portage._sets import load_default_config

from swarm_celery.domain.identity import slot_binding
from swarm_celery.domain.model import EdgeKind

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Metadata written for each baseline (installed) package in the private vdb.
VDB_KEYS = (
    "SLOT", "EAPI", "IUSE", "KEYWORDS", "LICENSE", "DEPEND", "RDEPEND", "BDEPEND",
    "PDEPEND", "IDEPEND", "RESTRICT", "PROPERTIES", "DEFINED_PHASES", "INHERITED",
)


class Trees:
    """portage's settings + trees for the private root, loaded once per resolve."""

    def __init__(self, eprefix: str, repos_conf: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORTAGE_REPOSITORIES": repos_conf}
        trees = portage.create_trees(env=env, eprefix=eprefix)
        for root_trees in trees.values():
            settings = root_trees["vartree"].settings
            settings._init_dirs()
            root_trees["root_config"] = RootConfig(settings, root_trees, load_default_config(settings, root_trees))
        self.trees = trees
        self.settings = trees[trees._target_eroot]["vartree"].settings
        self.eroot: str = self.settings["EROOT"]

    @property
    def portdb(self) -> Any:
        return self.trees[self.eroot]["porttree"].dbapi

    def close(self) -> None:
        for root_trees in self.trees.values():
            root_trees["porttree"].dbapi.close_caches()


@contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Collect what portage writes to stdout/stderr (it writes problems there, coloured)."""
    buffer = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        yield buffer
    finally:
        sys.stdout, sys.stderr = saved


def plain(text: str) -> str:
    return _ANSI.sub("", text)


def run_depgraph(trees: Trees, atoms: list[str], extra: dict[str, Any] | None = None) -> tuple[bool, Any]:
    """``emerge --pretend --emptytree ATOMS`` through portage's own backtracking resolver."""
    opts: dict[str, Any] = {"--pretend": True, "--emptytree": True, **(extra or {})}
    params = create_depgraph_params(opts, None)
    root_config = trees.trees[trees.eroot]["root_config"]
    with captured_output():
        args, _retval = expand_set_arguments(atoms, None, root_config)
        ok, depgraph, _favorites = backtrack_depgraph(trees.settings, trees.trees, opts, params, None, args, None)
    return bool(ok), depgraph


def merged_packages(depgraph: Any) -> list[Any]:
    """Every package the graph would merge, in graph order (no serialisation needed)."""
    return [n for n in depgraph._dynamic_config.digraph if isinstance(n, Package) and n.operation == "merge"]


def only_cycles(depgraph: Any) -> bool:
    """True when the resolve failed only for lack of a merge order (cycles), not for a missing,
    masked, blocked or conflicting package: the package set is still exactly portage's."""
    dc = depgraph._dynamic_config
    return not (
        dc._unsatisfied_deps_for_display or dc._missing_args or list(dc._package_tracker.slot_conflicts())
        or list(dc._unsolvable_blockers) or dc._need_restart
    )


def merge_list(depgraph: Any) -> list[Any]:
    """portage's merge order (what ``emerge --pretend`` prints)."""
    with captured_output():
        tasks = depgraph.altlist()
    return [t for t in tasks if isinstance(t, Package) and t.operation == "merge"]


def problems(depgraph: Any) -> str:
    """What ``emerge`` would print about why it failed, without colours."""
    saved = portage.util.noiselimit
    portage.util.noiselimit = 0
    try:
        with captured_output() as buffer:
            depgraph.display_problems()
    finally:
        portage.util.noiselimit = saved
    return plain(buffer.getvalue())


def edge_kinds(priorities: list[Any]) -> set[EdgeKind]:
    kinds: set[EdgeKind] = set()
    for prio in priorities:
        if getattr(prio, "buildtime", False) or getattr(prio, "buildtime_slot_op", False):
            kinds.add(EdgeKind.BUILD)
        if getattr(prio, "runtime", False) or getattr(prio, "runtime_slot_op", False):
            kinds.add(EdgeKind.RUN)
        if getattr(prio, "runtime_post", False):
            kinds.add(EdgeKind.POST)
        if getattr(prio, "installtime", False):
            kinds.add(EdgeKind.INSTALL)
    return kinds


def typed_edges(depgraph: Any, members: set[str]) -> list[tuple[str, str, EdgeKind]]:
    """(parent, child, kind) for every dependency between merged packages."""
    graph = depgraph._dynamic_config.digraph
    edges: list[tuple[str, str, EdgeKind]] = []
    for node in graph:
        if not isinstance(node, Package) or node.cpv not in members:
            continue
        for child, priorities in graph.nodes[node][0].items():
            if isinstance(child, Package) and child.cpv in members:
                edges.extend((node.cpv, child.cpv, kind) for kind in sorted(edge_kinds(priorities)))
    return edges


def binds_slot(priorities: list[Any]) -> bool:
    """True when the edge is a ``:=`` dependency: portage sets ``*_slot_op`` on the edge's priority for exactly
    those (``depgraph._add_pkg_dep_string``: ``atom.slot_operator == "="``), build- or run-time."""
    return any(getattr(p, "buildtime_slot_op", False) or getattr(p, "runtime_slot_op", False) for p in priorities)


def slot_bindings(depgraph: Any) -> dict[str, list[str]]:
    """cpv → sorted ``cat/pkg:slot/subslot`` of every child the merged package binds with a ``:=`` dependency.

    Read from the whole digraph (edges later dropped as cycle breaks still bind), children installed or merged.
    """
    graph = depgraph._dynamic_config.digraph
    bound: dict[str, list[str]] = {}
    for node in graph:
        if not isinstance(node, Package) or node.operation != "merge":
            continue
        children = {
            slot_binding(child.cp, child.slot, child.sub_slot)
            for child, priorities in graph.nodes[node][0].items()
            if isinstance(child, Package) and binds_slot(priorities)
        }
        bound[str(node.cpv)] = sorted(children)
    return bound


def package_record(pkg: Any) -> dict[str, Any]:
    slot = pkg._metadata.get("SLOT", "0")
    main_slot, _, sub_slot = slot.partition("/")
    return {
        "cpv": str(pkg.cpv),
        "slot": main_slot,
        "sub_slot": sub_slot or main_slot,
        "repo": pkg.repo,
        "use": sorted(pkg.use.enabled),
    }


def vdb_record(pkg: Any) -> dict[str, str]:
    record = {key: str(pkg._metadata.get(key, "")) for key in VDB_KEYS}
    record["cpv"] = str(pkg.cpv)
    record["USE"] = " ".join(sorted(pkg.use.enabled))
    record["repository"] = pkg.repo
    return record

