"""portage's own ``emerge --pretend --emptytree @world`` on the same inputs as ``build-swarm resolve``.

The private root is laid out by the resolver's own code (:func:`swarm_celery.resolve.root.build_root`,
the cached baseline linked as ``/var/db/pkg`` by :func:`~swarm_celery.resolve.root.link_vdb`) in a
subprocess, so the same portage reads the same make.conf, package.*, repos.conf, profile, world and
installed packages. ``emerge`` then runs with a clean environment (nothing from the caller's
``USE``/``FEATURES``/``PORTAGE_*`` leaks in). Requires the baseline cached by one resolve of the
same configuration first. Shared by ``tests/integration/test_emerge_equivalence.py`` and
``benchmarks/resolve.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve.inputs import build_request, default_profile, read_world

ROOT = Path(__file__).resolve().parents[2]
ARCHES = ("amd64", "arm64")

_SETUP_ROOT = """
import json, sys
from pathlib import Path
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve.root import build_root, link_vdb
request = ResolveRequest.from_json(json.loads(sys.argv[1]))
root, cache = Path(sys.argv[2]), Path(sys.argv[3])
conf = build_root(root, request, cache / "dep", Path(sys.prefix) / "share" / "portage" / "config")
link_vdb(root, json.loads((cache / "baseline" / f"{request.baseline_hash()}.json").read_text()), cache / "vdb")
print(conf)
"""
# `[ebuild  N    ] cat/pkg-1.2-r3:SLOT::repo  USE="..."`: `:SLOT` when not 0, `::repo` with --verbose
_EBUILD_LINE = re.compile(r"^\[ebuild[^\]]*\]\s+(?P<cpv>[^\s:]+)(?::(?P<slot>[^\s:]+))?(?:::(?P<repo>\S+))?")


def set_file(shared: Path, name: str) -> Path:
    local = ROOT / "benchmarks" / "sets" / f"{name}.txt"
    return local if local.exists() else shared / "gentoo" / "sets" / f"{name}.txt"


def arch_config(shared: Path, arch: str, scratch: Path) -> Path:
    """The shared portage-config for ``arch``: as is for amd64; for another arch a copy under ``scratch`` whose
    ``ACCEPT_KEYWORDS`` and ``package.accept_keywords`` name that arch (the shared one hardcodes amd64, and
    ACCEPT_KEYWORDS is incremental: left alone it would add amd64 to the arm64 profile's keywords)."""
    source = shared / "gentoo" / "portage-config"
    if arch == "amd64":
        return source
    dest = scratch / f"portage-config-{arch}"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    for name in ("make.conf", "package.accept_keywords"):
        path = dest / name
        text = path.read_text()
        assert "amd64" in text, f"{path}: expected amd64 keywords to replace"
        path.write_text(re.sub(r"\bamd64\b", arch, text))
    return dest


def request_for(shared: Path, arch: str, world: tuple[str, ...], config: Path) -> ResolveRequest:
    gentoo = shared / "gentoo"
    return build_request([gentoo / "repo", gentoo / "supplement"], default_profile(arch), arch, world, config)


def set_request(shared: Path, name: str, arch: str, scratch: Path) -> ResolveRequest:
    return request_for(shared, arch, read_world(set_file(shared, name)), arch_config(shared, arch, scratch))


@dataclass(frozen=True)
class EmergeResult:
    seconds: float  # emerge alone, not the root's setup
    packages: tuple[tuple[str, str], ...]  # (cpv, repo) in emerge's merge order
    output: str


def parse_emerge(stdout: str, main_repo: str = "gentoo") -> tuple[tuple[str, str], ...]:
    found = (_EBUILD_LINE.match(line) for line in stdout.splitlines())
    return tuple((m["cpv"], m["repo"] or main_repo) for m in found if m)


def emerge_pretend(request: ResolveRequest, cache: Path, verbose: bool = False) -> EmergeResult:
    """``emerge --pretend --emptytree --color=n --package-moves=n @world`` in a private root prepared like the
    resolver's; ``verbose`` adds ``--verbose`` (the repository of every package). No package moves: the resolver
    applies none (and they would rewrite the shared cached vdb)."""
    root = Path(tempfile.mkdtemp(prefix="swarm-emerge-root-"))
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "LC_ALL": "C.UTF-8",
               "PORTAGE_OVERRIDE_EPREFIX": str(root)}
        setup = subprocess.run([sys.executable, "-c", _SETUP_ROOT, json.dumps(request.to_json()), str(root), str(cache)],
                               env=env | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False)
        if setup.returncode != 0:
            raise RuntimeError(f"setting up the emerge root failed:\n{setup.stderr[-3000:]}")
        env["PORTAGE_REPOSITORIES"] = setup.stdout
        emerge = Path(sys.executable).parent / "emerge"
        start = time.perf_counter()
        argv = [str(emerge), "--pretend", "--emptytree", "--color=n", "--package-moves=n", *(["--verbose"] if verbose else []), "@world"]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=900)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(f"emerge failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return EmergeResult(elapsed, parse_emerge(out.stdout), out.stdout)
