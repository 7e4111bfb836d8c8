"""Benchmark: `build-swarm resolve` vs portage's own `emerge --pretend --emptytree @world`.

Same portage, same tree, same configuration, same baseline (the drones' stage3 recorded as
installed in a private root), same warm metadata cache; both measured in this run, median
of N runs each, printed as a ratio. Run:

    .venv/bin/python benchmarks/resolve_vs_emerge.py [--runs 3] [--shared ../shared] [--set medium]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from swarm_celery.resolve.adapter import PortageResolver
from swarm_celery.resolve.inputs import build_request, read_world

SETUP_ROOT = """
import json, os, sys
from pathlib import Path
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve.root import build_root
request = ResolveRequest.from_json(json.loads(sys.argv[1]))
root, cache = Path(sys.argv[2]), Path(sys.argv[3])
conf = build_root(root, request, cache / "dep", Path(sys.prefix) / "share" / "portage" / "config")
from swarm_celery.resolve import portage_graph
portage_graph.write_vdb(str(root), json.loads((cache / "baseline" / f"{request.baseline_hash()}.json").read_text()))
print(conf)
"""


def time_ours(resolver: PortageResolver, request: object) -> tuple[float, int]:
    start = time.perf_counter()
    plan = resolver.resolve(request)  # type: ignore[arg-type]
    return time.perf_counter() - start, len(plan.packages)


def time_emerge(request_json: str, cache: Path) -> tuple[float, int]:
    root = Path(tempfile.mkdtemp(prefix="bench-emerge-"))
    env = {**os.environ, "PORTAGE_OVERRIDE_EPREFIX": str(root)}
    conf = subprocess.run([sys.executable, "-c", SETUP_ROOT, request_json, str(root), str(cache)], env=env,
                          capture_output=True, text=True, check=True).stdout
    env["PORTAGE_REPOSITORIES"] = conf
    emerge = Path(sys.executable).parent / "emerge"
    start = time.perf_counter()
    out = subprocess.run([str(emerge), "--pretend", "--emptytree", "--color=n", "@world"], env=env,
                         capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    merged = sum(1 for line in out.stdout.splitlines() if line.startswith("[ebuild"))
    if out.returncode != 0:
        raise SystemExit(f"emerge failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--set", default="medium")
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / ".cache" / "test-portage")
    args = parser.parse_args()
    gentoo = args.shared / "gentoo"
    request = build_request([gentoo / "repo", gentoo / "supplement"], "default/linux/amd64/23.0/systemd", "amd64",
                            read_world(gentoo / "sets" / f"{args.set}.txt"), gentoo / "portage-config")
    resolver = PortageResolver(args.cache)
    time_ours(resolver, request)  # warm the metadata and baseline caches
    ours = [time_ours(resolver, request) for _ in range(args.runs)]
    theirs = [time_emerge(json.dumps(request.to_json()), args.cache) for _ in range(args.runs)]
    ours_s, theirs_s = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in theirs)
    print(f"set={args.set} runs={args.runs}")
    print(f"build-swarm resolve           : {ours_s:6.2f} s  ({ours[0][1]} packages, typed edges, gates input)")
    print(f"emerge --pretend --emptytree  : {theirs_s:6.2f} s  ({theirs[0][1]} packages)")
    print(f"ratio ours/emerge             : {ours_s / theirs_s:6.2f}")


if __name__ == "__main__":
    main()
