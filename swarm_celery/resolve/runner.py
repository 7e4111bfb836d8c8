"""The resolver subprocess: one resolve per process, no portage state left behind.

Protocol: a JSON object on stdin ``{"request": ResolveRequest, "cache_dir": str}``;
on stdout either ``{"plan": {...}}`` (exit 0) or ``{"error": {"kind", "message",
"atom", "details"}}`` (exit 3). Run as ``python -m swarm_celery.resolve.runner``
by :class:`swarm_celery.resolve.adapter.PortageResolver`.

Steps: validate every world atom with portage's own parser; lay out a private
root; check each atom matches an ebuild; compute (or load from cache) the baseline
(the request's explicit list of installed packages, or ``@system`` with ``--emptytree``),
recorded as installed; resolve ``--emptytree @world`` (the installed packages steer portage's
``|| ( )`` and virtual choices; every package of the world's tree is still planned); fail, with
the fix portage suggests (:mod:`swarm_celery.resolve.problems`), on any problem or dropped atom;
read the merge order and typed edges; drop the edges the merge order contradicts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from swarm_celery.domain.baseline import InstalledPackage
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.graph import split_by_merge_order
from swarm_celery.domain.identity import package_identity
from swarm_celery.domain.model import EdgeKind
from swarm_celery.resolve.problems import RunnerError, diagnose, dropped_atoms

EXIT_RESOLVE_ERROR = 3
_DEP_FIELDS = {EdgeKind.BUILD: "build_deps", EdgeKind.RUN: "run_deps", EdgeKind.POST: "post_deps", EdgeKind.INSTALL: "install_deps"}


def validate_atoms(atoms: tuple[str, ...]) -> None:
    """portage's own atom parser, before anything else touches the atoms."""
    from portage.dep import Atom
    from portage.exception import InvalidAtom

    if not atoms:
        raise RunnerError("empty_world", "the world file lists no atoms: add one atom per line (e.g. app-misc/tmux)")
    for atom in atoms:
        try:
            Atom(atom)
        except InvalidAtom:
            raise RunnerError(
                "invalid_atom",
                f"invalid atom {atom!r}: write category/package, optionally with a version operator (e.g. >=app-misc/tmux-3.4)",
                atom,
            ) from None


def check_matches(trees: Any, atoms: tuple[str, ...], allow_missing: bool) -> tuple[str, ...]:
    """Each atom must match an ebuild; return the atoms to resolve. A masked match is left to the depgraph,
    whose autounmask names the exact package.unmask / package.accept_keywords line (:mod:`.problems`)."""
    portdb = trees.portdb
    kept: list[str] = []
    for atom in atoms:
        if not portdb.xmatch("match-all", atom):
            if allow_missing:
                continue
            repos = ", ".join(portdb.getRepositories())
            raise RunnerError("no_match", f"atom {atom!r} matches no ebuild in the repositories ({repos}): check its spelling or add the overlay with --repo", atom)
        kept.append(atom)
    return tuple(kept)


def baseline_records(graph: Any, trees: Any, cache_file: Path, explicit: tuple[InstalledPackage, ...] = ()) -> list[dict[str, str]]:
    """The drones' installed packages, cached per baseline hash: the ``explicit`` list when given, else the
    stage3 (``@system`` with ``--emptytree``)."""
    if cache_file.is_file():
        records: list[dict[str, str]] = json.loads(cache_file.read_text())
        return records
    if explicit:
        from swarm_celery.resolve.installed import explicit_records  # imports portage: only once it is set up

        records = explicit_records(trees, explicit)
    else:
        records = system_records(graph, trees)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records))
    os.replace(tmp, cache_file)
    return records


def system_records(graph: Any, trees: Any) -> list[dict[str, str]]:
    # Against an empty vdb portage cannot *order* @system (gcc <-> glibc, ...), but the set is complete:
    # accept a failure that is only about cycles, refuse any other. An empty @system (an overlay's own profile,
    # whose drones bring their toolchain from the host) is an empty baseline.
    ok, depgraph = graph.run_depgraph(trees, ["@system"], {"--backtrack": 0})
    records = [graph.vdb_record(p) for p in graph.merged_packages(depgraph)]
    if not ok and not (records and graph.only_cycles(depgraph)):
        error = _resolve_failure(graph.problems(depgraph), "@system")
        raise RunnerError("baseline", f"the profile's baseline: {error.message}", details=error.details)
    return records


def plan_from_depgraph(graph: Any, depgraph: Any) -> dict[str, Any]:
    ordered = graph.merge_list(depgraph)
    order = [str(p.cpv) for p in ordered]
    split = split_by_merge_order(graph.typed_edges(depgraph, set(order)), order)
    bindings = graph.slot_bindings(depgraph)
    packages = {str(p.cpv): graph.package_record(p) | {f: [] for f in _DEP_FIELDS.values()} for p in ordered}
    for cpv, record in packages.items():
        record["slot_deps"] = bindings.get(cpv, [])
    for parent, child, kind in split.kept:
        packages[parent][_DEP_FIELDS[kind]].append(child)
    return {
        "packages": [packages[cpv] for cpv in order],
        "merge_order": order,
        "dropped_edges": [{"parent": d.parent, "child": d.child, "kind": d.kind.value, "reason": d.reason} for d in split.dropped],
    }


def with_identities(plan: dict[str, Any], request: ResolveRequest) -> dict[str, Any]:
    """Each package's binary-package identity (:mod:`swarm_celery.domain.identity`), and what it was computed for."""
    for record in plan["packages"]:
        record["identity"] = package_identity(
            cpv=record["cpv"], repo=record["repo"], slot=record["slot"], sub_slot=record["sub_slot"], arch=request.arch,
            gentoo_profile=request.gentoo_profile, use=record["use"], slot_deps=record["slot_deps"])
    return plan | {"arch": request.arch, "gentoo_profile": request.gentoo_profile}


def resolve(request: ResolveRequest, cache_dir: Path, root: Path, allow_missing: bool = False) -> dict[str, Any]:
    from swarm_celery.resolve.root import build_root, link_vdb

    validate_atoms(request.world)
    share_config = Path(sys.prefix) / "share" / "portage" / "config"
    repos_conf = build_root(root, request, cache_dir / "dep", share_config)
    import portage

    portage.util.noiselimit = -2
    from swarm_celery.resolve import portage_graph as graph

    timings: dict[str, float] = {}
    start = time.perf_counter()
    trees = graph.Trees(str(root), repos_conf)
    atoms = check_matches(trees, request.world, allow_missing)
    baseline = baseline_records(graph, trees, cache_dir / "baseline" / f"{request.baseline_hash()}.json", request.baseline)
    timings["baseline"] = time.perf_counter() - start
    trees.close()
    link_vdb(root, baseline, cache_dir / "vdb")
    (root / "var" / "lib" / "portage" / "world").write_text("".join(f"{a}\n" for a in atoms))
    trees = graph.Trees(str(root), repos_conf)
    ok, depgraph = graph.run_depgraph(trees, ["@world"])
    if not ok or dropped_atoms(depgraph):  # portage only warns about world atoms it drops: we fail
        raise diagnose(graph, trees, depgraph) or _resolve_failure(graph.problems(depgraph))
    plan = with_identities(plan_from_depgraph(graph, depgraph), request)
    timings["world"] = time.perf_counter() - start - timings["baseline"]
    trees.close()
    return plan | {"baseline": [r["cpv"] for r in baseline], "config_hash": request.config_hash(), "timings": timings}


def _resolve_failure(text: str, target: str = "@world") -> RunnerError:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    headline = next((line for line in lines if line.startswith(("!!!", "*"))), lines[0] if lines else "no reason given")
    headline = headline.lstrip("!* ").strip()
    return RunnerError("unsatisfiable", f"portage cannot resolve {target}: {headline} (`build-swarm --debug resolve` with the same options prints portage's full output)", details=text)


def main() -> int:
    payload = json.load(sys.stdin)
    request = ResolveRequest.from_json(payload["request"])
    cache_dir = Path(payload["cache_dir"])
    root = Path(tempfile.mkdtemp(prefix="swarm-portage-root-"))
    os.environ["PORTAGE_OVERRIDE_EPREFIX"] = str(root)  # before portage is imported
    try:
        plan = resolve(request, cache_dir, root, bool(payload.get("allow_missing", False)))
    except RunnerError as exc:
        error = {"kind": exc.kind, "message": exc.message, "atom": exc.atom, "details": exc.details}
        json.dump({"error": error}, sys.stdout)
        return EXIT_RESOLVE_ERROR
    finally:
        shutil.rmtree(root, ignore_errors=True)
    json.dump({"plan": plan}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
