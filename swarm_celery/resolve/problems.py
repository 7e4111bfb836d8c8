"""Why portage could not resolve @world: one line naming the package, the world atom behind it and the fix.

Runs only inside the resolver subprocess (:mod:`swarm_celery.resolve.runner`). The fixes are portage's own:
the depgraph is run again with ``--autounmask=y --autounmask-write=n`` and its needed changes are read
(``_needed_p_mask_changes``, ``_needed_unstable_keywords``, ``_needed_license_changes``,
``_needed_use_config_changes``), as ``emerge`` displays them in ``_display_autounmask``; blockers and slot
conflicts come from ``_unsatisfied_blockers_for_display`` and ``_package_tracker.slot_conflicts()``;
REQUIRED_USE from the ``show_req_use`` entries of ``_unsatisfied_deps_for_display``. World atoms that
portage silently drops (it only warns "Problems have been detected with your world file") are failures.
portage is imported inside the functions: the runner imports this module before it may import portage.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from typing import Any

from swarm_celery.errors import SwarmError

AUTOUNMASK = {"--autounmask": True, "--autounmask-write": False}
_FLAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9+_@-]*")


class RunnerError(SwarmError):
    def __init__(self, kind: str, message: str, atom: str = "", details: str = "") -> None:
        super().__init__(message)
        self.kind, self.message, self.atom, self.details = kind, message, atom, details


def dropped_atoms(depgraph: Any) -> list[str]:
    """World atoms portage left out of a "successful" resolve (masked, or every candidate backtracked away)."""
    return [str(atom) for _arg, atom in depgraph._dynamic_config._missing_args]


def diagnose(graph: Any, trees: Any, depgraph: Any) -> RunnerError | None:
    """The first problem of a failed @world resolve, with portage's suggested fix; None when none is recognised."""
    found, source = conflicts(depgraph) or config_change(depgraph), depgraph
    if found is None:
        _ok, source = graph.run_depgraph(trees, ["@world"], AUTOUNMASK)
        found = config_change(source) or conflicts(source)
    dropped = dropped_atoms(depgraph)
    if found is None and dropped:  # backtracking hid the conflict: without it, portage shows it
        _ok, source = graph.run_depgraph(trees, ["@world"], AUTOUNMASK | {"--backtrack": 0})
        found = conflicts(source) or config_change(source) or missing_dependency(source) or RunnerError(
            "unsatisfiable", f"portage cannot satisfy the world atom(s) {', '.join(dropped)} and would silently drop them: "
            "check their dependencies with `build-swarm --debug resolve`, or remove them from the world", dropped[0])
    if found is None:
        found, source = missing_dependency(depgraph), depgraph
    if found is not None:
        found.details = graph.problems(source)  # what `build-swarm --debug` prints: portage's own words
    return found


def missing_dependency(depgraph: Any) -> RunnerError | None:
    """A dependency no visible ebuild satisfies (and no configuration change would)."""
    for (_root, atom), kwargs in depgraph._dynamic_config._unsatisfied_deps_for_display:
        parent = kwargs.get("myparent")
        is_pkg = hasattr(parent, "cpv")
        chain, world = chain_text(depgraph, parent) if is_pkg else chain_text(depgraph, None, parent, str(atom))
        subject = f"{name(parent)} depends on {atom}" if is_pkg else f"the world atom {atom}"
        return RunnerError("unsatisfiable", f"{subject}, which no ebuild in the repositories satisfies ({chain}): "
                           f"add the repository that provides it with --repo, or remove {world} from the world", world)
    return None


def world_chain(depgraph: Any, pkg: Any) -> tuple[list[str], str]:
    """portage's parent links from ``pkg`` up to @world: the packages in between (nearest first) and the world atom."""
    from _emerge.Package import Package

    parents = depgraph._dynamic_config._parent_atoms
    seen = {pkg}
    queue: deque[tuple[Any, list[str]]] = deque([(pkg, [])])
    while queue:
        node, path = queue.popleft()
        links = sorted(parents.get(node, ()), key=lambda link: (str(getattr(link[0], "cpv", "")), str(link[1])))
        for parent, atom in links:
            if not isinstance(parent, Package):
                return path, str(atom)
        for parent, atom in links:
            if parent not in seen:
                seen.add(parent)
                queue.append((parent, [*path, f"{parent.cpv}::{parent.repo} ({atom})"]))
    return [], ""


def chain_text(depgraph: Any, pkg: Any, parent: Any = None, parent_atom: str = "") -> tuple[str, str]:
    """``required by A (atom) ← B (atom), world atom X`` and X; ``parent`` when ``pkg`` is not in the graph."""
    from _emerge.Package import Package

    if parent is not None and not isinstance(parent, Package):
        return f"world atom {parent_atom}", parent_atom
    path, world = world_chain(depgraph, parent if parent is not None else pkg)
    if parent is not None:
        path = [f"{parent.cpv}::{parent.repo} ({parent_atom})", *path]
    head = f"required by {' ← '.join(path)}, " if path else ""
    return f"{head}world atom {world or '?'}", world


def name(pkg: Any) -> str:
    return f"{pkg.cpv}::{pkg.repo}"


def config_change(depgraph: Any) -> RunnerError | None:
    """The first configuration change portage's autounmask says is needed (what ``_display_autounmask`` prints)."""
    dc = depgraph._dynamic_config
    in_graph = dc.digraph
    for pkg in sorted((p for p in dc._needed_p_mask_changes if p in in_graph), key=name):
        return masked(depgraph, pkg)
    for pkg in sorted((p for p in dc._needed_unstable_keywords if p in in_graph), key=name):
        return keywords(depgraph, pkg)
    for pkg, licenses in sorted(((p, v) for p, v in dc._needed_license_changes.items() if p in in_graph), key=lambda i: name(i[0])):
        chain, world = chain_text(depgraph, pkg)
        line = f"{best_prefix(pkg, visible=False)}{pkg.cpv} {' '.join(sorted(licenses))}"
        return RunnerError("license", f"{name(pkg)} has a license you do not accept ({chain}): add \"{line}\" to package.license", world)
    for pkg, (_use, changes) in sorted(((p, v) for p, v in dc._needed_use_config_changes.items() if p in in_graph), key=lambda i: name(i[0])):
        return use_change(depgraph, pkg, changes)
    return None


def masked(depgraph: Any, pkg: Any) -> RunnerError:
    import portage

    settings = depgraph._frozen_config.pkgsettings[pkg.root]
    comment, filename = portage.getmaskingreason(pkg.cpv, metadata=pkg._metadata, settings=settings,
                                                 portdb=pkg.root_config.trees["porttree"].dbapi, return_location=True)
    where = "your package.mask" if filename and filename.startswith(settings["PORTAGE_CONFIGROOT"]) else filename or "package.mask"
    why = mask_reason(comment or "")
    reason = f"masked by {where}" + (f" ({why})" if why else "")
    chain, world = chain_text(depgraph, pkg)
    return RunnerError("masked", f"{name(pkg)} is {reason} ({chain}): add \"={pkg.cpv}\" to package.unmask", world)


def mask_reason(comment: str) -> str:
    """The mask comment's text as one line, without its ``Author <mail> (date)`` line."""
    lines = [line.lstrip("#").strip() for line in comment.splitlines()]
    lines = [line for line in lines if line]
    if lines and re.search(r"<[^>]+@[^>]+>", lines[0]):
        lines = lines[1:]
    text = " ".join(lines)
    return text if len(text) <= 160 else text[:159].rstrip() + "…"


def keywords(depgraph: Any, pkg: Any) -> RunnerError:
    from _emerge.depgraph import _get_masking_status

    settings = depgraph._frozen_config.pkgsettings[pkg.root]
    hints = [r.unmask_hint.value for r in _get_masking_status(pkg, settings, pkg.root_config, use=depgraph._pkg_use_enabled(pkg))
             if r.unmask_hint and r.unmask_hint.key == "unstable keyword"]
    keyword = hints[0] if hints else f"~{settings['ARCH']}"
    state = f"has no {settings['ARCH']} keyword" if keyword == "**" else f"is keyworded {keyword} only"
    chain, world = chain_text(depgraph, pkg)
    return RunnerError("keywords", f"{name(pkg)} {state} ({chain}): add \"={pkg.cpv} {keyword}\" to package.accept_keywords", world)


def use_change(depgraph: Any, pkg: Any, changes: dict[str, bool]) -> RunnerError:
    flags = " ".join(flag if on else f"-{flag}" for flag, on in sorted(changes.items()))
    wanted = [(parent, atom) for parent, atom in depgraph._dynamic_config._parent_atoms.get(pkg, ()) if atom.use]
    chain, world = chain_text(depgraph, pkg, *wanted[0]) if wanted else chain_text(depgraph, pkg)
    return RunnerError("use", f"{name(pkg)} needs USE=\"{flags}\" ({chain}): add \"{best_prefix(pkg)}{pkg.cpv} {flags}\" to package.use", world)


def best_prefix(pkg: Any, visible: bool = True) -> str:
    """``>=`` when ``pkg`` is the best (``visible``) version of its package, ``=`` otherwise: what autounmask writes
    (``_display_autounmask``'s ``check_if_latest``, with visibility for USE changes, without for licenses)."""
    import portage

    portdb = pkg.root_config.trees["porttree"].dbapi
    best = portdb.xmatch("bestmatch-visible", pkg.cp) if visible else portage.best(portdb.xmatch("match-all", pkg.cp))
    return ">=" if best == pkg.cpv else "="


def conflicts(depgraph: Any) -> RunnerError | None:
    """REQUIRED_USE violations, blockers and slot conflicts, in that order."""
    dc = depgraph._dynamic_config
    for (_root, atom), kwargs in dc._unsatisfied_deps_for_display:
        if kwargs.get("show_req_use") is not None:
            return required_use(depgraph, kwargs["show_req_use"], kwargs.get("myparent"), str(atom))
    if dc._unsatisfied_blockers_for_display:
        return blocker(depgraph, sorted(dc._unsatisfied_blockers_for_display, key=str)[0])
    for conflict in dc._package_tracker.slot_conflicts():
        return slot_conflict(depgraph, conflict)
    return None


def required_use(depgraph: Any, pkg: Any, parent: Any, atom: str) -> RunnerError:
    from portage.dep import check_required_use

    text = pkg._metadata["REQUIRED_USE"]
    unmet = check_required_use(text, pkg.use.enabled, pkg.iuse.is_valid_flag, eapi=pkg.eapi).tounicode()
    unmet = re.sub(r"\|\|", "any-of", re.sub(r"\^\^", "exactly-one-of", re.sub(r"\?\?", "at-most-one-of", unmet)))
    chain, world = chain_text(depgraph, pkg, parent, atom)
    fix = required_use_fix(pkg)
    todo = f"add \"{best_prefix(pkg)}{pkg.cpv} {fix}\" to package.use" if fix else "set its USE flags in package.use to satisfy it"
    return RunnerError("required_use", f"{name(pkg)} violates its REQUIRED_USE \"{unmet}\" ({chain}): {todo}", world)


def required_use_fix(pkg: Any) -> str:
    """The fewest USE flag toggles (up to three) that satisfy ``pkg``'s REQUIRED_USE, as a package.use tail; "" if none."""
    from portage.dep import check_required_use

    text = pkg._metadata["REQUIRED_USE"]
    enabled = set(pkg.use.enabled)
    flags = [f for f in dict.fromkeys(_FLAG.findall(text)) if pkg.iuse.is_valid_flag(f)]
    for size in (1, 2, 3):
        for combo in itertools.combinations(flags, size):
            use = enabled.symmetric_difference(combo)
            if check_required_use(text, use, pkg.iuse.is_valid_flag, eapi=pkg.eapi):
                return " ".join(f if f in use else f"-{f}" for f in combo)
    return ""


def blocker(depgraph: Any, block: Any) -> RunnerError:
    dc = depgraph._dynamic_config
    blockers = sorted(dc._blocker_parents.parent_nodes(block), key=name)
    blocked = sorted(dc._blocked_pkgs.child_nodes(block), key=name)
    if not blockers or not blocked:
        return RunnerError("blocker", f"portage reports the unsolvable blocker {block.atom}: remove the package that pulls it in from the world")
    (first, first_world), (second, second_world) = ((p, chain_text(depgraph, p)[1]) for p in (blockers[0], blocked[0]))
    return RunnerError(
        "blocker",
        f"{name(first)} blocks {name(second)} ({block.atom}), and both are wanted (world atoms {first_world} and {second_world}): "
        f"they cannot be installed together; remove {second_world} or {first_world} from the world", first_world)


def slot_conflict(depgraph: Any, conflict: Any) -> RunnerError:
    parents = depgraph._dynamic_config._parent_atoms
    wants, worlds = [], []
    for pkg in sorted(conflict.pkgs, key=name):
        links = sorted(parents.get(pkg, ()), key=lambda link: str(link[1]))
        if links:
            chain, world = chain_text(depgraph, pkg, *links[0])
            wants.append(f"{name(pkg)} ({chain})")
            worlds.append(world)
    first = sorted(conflict.pkgs, key=name)[0]
    return RunnerError(
        "slot_conflict",
        f"slot conflict on {conflict.atom}: only one of {' and '.join(wants)} can be installed: "
        f"add \"={first.cpv}\" to package.mask if the rest accept the other version, or remove one of the world atoms "
        f"{', '.join(dict.fromkeys(worlds))}", worlds[0] if worlds else "")
