"""The portage resolver port adapter: one subprocess per resolve.

portage keeps process-wide state (its EPREFIX constant, caches, the event loop),
so every resolve runs in a fresh ``python -m swarm_celery.resolve.runner``: the
coordinator's worker process stays clean between two resolves, and a crash in
portage is a failed resolve, not a dead coordinator. The metadata cache
(``PORTAGE_DEPCACHEDIR``) and the baseline cache live under ``cache_dir`` and are
shared by every resolve.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.model import DroppedEdge, EdgeKind, Plan, PlannedPackage
from swarm_celery.errors import ResolveError


class PortageResolver:
    def __init__(self, cache_dir: Path, timeout: float = 1800.0, python: str = sys.executable) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.python = python

    def resolve(self, request: ResolveRequest, allow_missing: bool = False) -> Plan:
        payload = {"request": request.to_json(), "cache_dir": str(self.cache_dir), "allow_missing": allow_missing}
        try:
            proc = subprocess.run(  # argv list: nothing reaches a shell
                [self.python, "-m", "swarm_celery.resolve.runner"],
                input=json.dumps(payload),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ResolveError(f"portage did not finish resolving within {self.timeout:.0f} s", kind="timeout") from None
        return _parse_output(proc.returncode, proc.stdout, proc.stderr)


def _parse_output(returncode: int, stdout: str, stderr: str) -> Plan:
    try:
        data = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    if "error" in data:
        error = data["error"]
        raise ResolveError(
            str(error["message"]),
            kind=str(error.get("kind", "resolve")),
            atom=str(error.get("atom", "")),
            details=str(error.get("details", "")),
        )
    if returncode != 0 or "plan" not in data:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise ResolveError(f"the portage resolver crashed (exit {returncode}): {last}", kind="crash", details=stderr)
    return plan_from_json(data["plan"])


def plan_from_json(data: dict[str, object]) -> Plan:
    def strs(value: object) -> tuple[str, ...]:
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    raw_packages = data.get("packages", [])
    raw_dropped = data.get("dropped_edges", [])
    packages = tuple(
        PlannedPackage(
            cpv=str(p["cpv"]), slot=str(p["slot"]), sub_slot=str(p["sub_slot"]), repo=str(p["repo"]),
            use=strs(p["use"]), build_deps=strs(p.get("build_deps")), run_deps=strs(p.get("run_deps")),
            post_deps=strs(p.get("post_deps")), install_deps=strs(p.get("install_deps")),
            slot_deps=strs(p.get("slot_deps")), identity=str(p.get("identity", "")),
        )
        for p in (raw_packages if isinstance(raw_packages, list) else [])
    )
    dropped = tuple(
        DroppedEdge(str(d["parent"]), str(d["child"]), EdgeKind(str(d["kind"])), str(d["reason"]))
        for d in (raw_dropped if isinstance(raw_dropped, list) else [])
    )
    return Plan(
        packages=packages,
        merge_order=strs(data.get("merge_order")),
        dropped_edges=dropped,
        baseline=strs(data.get("baseline")),
        config_hash=str(data.get("config_hash", "")),
        arch=str(data.get("arch", "")),
        gentoo_profile=str(data.get("gentoo_profile", data.get("profile", ""))),  # "profile" in outputs before 0.2
    )


def plan_to_json(plan: Plan) -> dict[str, object]:
    """The `build-swarm resolve --json` shape."""
    return {
        "packages": [
            {
                "cpv": p.cpv, "slot": p.slot, "sub_slot": p.sub_slot, "repo": p.repo, "use": list(p.use),
                "build_deps": list(p.build_deps), "run_deps": list(p.run_deps), "post_deps": list(p.post_deps),
                "install_deps": list(p.install_deps), "slot_deps": list(p.slot_deps), "identity": p.identity,
            }
            for p in plan.packages
        ],
        "merge_order": list(plan.merge_order),
        "dropped_edges": [{"parent": d.parent, "child": d.child, "kind": d.kind.value, "reason": d.reason} for d in plan.dropped_edges],
        "baseline": list(plan.baseline),
        "config_hash": plan.config_hash,
        "arch": plan.arch,
        "gentoo_profile": plan.gentoo_profile,
        "profile": plan.gentoo_profile,  # deprecated alias of gentoo_profile
    }


def plan_from_resolve_output(data: object) -> Plan:
    """A saved ``build-swarm resolve --json`` output as a Plan; ValueError saying what is wrong with it otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("packages"), list) or not isinstance(data.get("merge_order"), list):
        raise ValueError("it is not a `build-swarm resolve --json` output (no packages and merge_order lists)")
    for index, pkg in enumerate(data["packages"]):
        if not isinstance(pkg, dict) or not all(isinstance(pkg.get(k), str) for k in ("cpv", "slot", "sub_slot", "repo")):
            raise ValueError(f"package #{index + 1} is not a resolved package (needs cpv, slot, sub_slot, repo strings)")
        if not isinstance(pkg.get("use"), list):
            raise ValueError(f"package {pkg['cpv']!r} has no use list")
        if not isinstance(pkg.get("identity"), str) or not pkg["identity"]:
            raise ValueError(f"package {pkg['cpv']!r} has no identity: the file was written before identities; "
                             "resolve the old configuration again with this version")
        try:
            split_cpv(pkg["cpv"])
        except ValueError as exc:
            raise ValueError(f"package #{index + 1}: {exc}") from None
    return plan_from_json(data)
