"""Benchmark: `build-swarm resolve` vs portage's own `emerge --pretend --emptytree @world`, and in-process vs subprocess.

Same portage, same tree, same configuration (arm64: the shared portage-config with its keywords
switched to arm64), same baseline (the drones' stage3 recorded as installed in a private root),
same warm metadata cache; ours and emerge's runs interleaved in this run (the machine's load hits
both alike), median of N each, printed as ratios:

* ``resolver``: ``PortageResolver.resolve`` (one ``python -m swarm_celery.resolve.runner`` per resolve);
* ``cli``: the whole ``build-swarm resolve --json`` command (its own start-up included);
* ``emerge``: ``emerge --pretend --emptytree --color=n --package-moves=n @world`` (root set up untimed).

Then the in-process alternative: ``runner.resolve`` called several times in one process (one private
root, as portage's EPREFIX is fixed at import) against fresh subprocesses: time, memory, and the plan's
digest (packages, typed edges, dropped edges, identities; lists compared as sets, see :func:`digest`).

    .venv/bin/python benchmarks/resolve.py [--runs 5] [--sets small,medium,server] [--arches amd64,arm64] [--no-cli]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm_celery.domain.config import ResolveRequest  # noqa: E402
from swarm_celery.errors import ResolveError  # noqa: E402
from swarm_celery.resolve.adapter import PortageResolver  # noqa: E402
from tests.integration.emerge_kit import emerge_pretend, set_file, set_request  # noqa: E402

SHARED = Path(os.environ.get("SWARM_TEST_SHARED", ROOT.parent / "shared"))
CACHE = ROOT / ".cache" / "test-portage"

# One process, several resolves: the root's path is fixed (portage reads EPREFIX once, at import).
IN_PROCESS = """
import json, os, resource, shutil, sys, tempfile, time
from pathlib import Path
root = Path(tempfile.mkdtemp(prefix="swarm-inprocess-"))
os.environ["PORTAGE_OVERRIDE_EPREFIX"] = str(root)
from swarm_celery.domain.config import ResolveRequest
from swarm_celery.resolve import runner
for item in json.loads(sys.argv[1]):
    for entry in list(root.iterdir()):
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    start = time.perf_counter()
    plan = runner.resolve(ResolveRequest.from_json(item), Path(sys.argv[2]), root)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"seconds": seconds, "plan": plan, "rss_mb": rss}), flush=True)
shutil.rmtree(root, ignore_errors=True)
"""


def time_resolver(request: ResolveRequest) -> tuple[float, int]:
    start = time.perf_counter()
    plan = PortageResolver(CACHE).resolve(request)
    return time.perf_counter() - start, len(plan.packages)


def time_cli(request: ResolveRequest, name: str, home: Path) -> float:
    argv = [str(Path(sys.executable).parent / "build-swarm"), "resolve", "--json", "--arch", request.arch,
            "--world", str(set_file(SHARED, name)), "--portage-config", request.portage_config]
    for repo in request.repos:
        argv += ["--repo", repo]
    start = time.perf_counter()
    out = subprocess.run(argv, env=os.environ | {"SWARM_HOME": str(home)}, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"build-swarm resolve failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed


def bench_one(name: str, arch: str, runs: int, scratch: Path, home: Path | None) -> dict[str, object]:
    request = set_request(SHARED, name, arch, scratch)
    _, packages = time_resolver(request)  # warms the metadata, baseline and vdb caches
    emerged = emerge_pretend(request, CACHE)
    ours: list[float] = []
    cli: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):  # interleaved: a burst of load on the machine hits both
        ours.append(time_resolver(request)[0])
        if home is not None:
            cli.append(time_cli(request, name, home))
        theirs.append(emerge_pretend(request, CACHE).seconds)
    return {"set": name, "arch": arch, "atoms": len(request.world), "packages": packages, "emerge_packages": len(emerged.packages),
            "resolver": statistics.median(ours), "cli": statistics.median(cli) if cli else None, "emerge": statistics.median(theirs),
            "spread": (min(ours), max(ours), min(theirs), max(theirs))}


def print_table(rows: list[dict[str, object]], runs: int) -> None:
    print(f"\nmedian of {runs} runs each, interleaved; seconds; ratio = ours / emerge")
    print(f"{'set':8} {'arch':6} {'atoms':>5} {'pkgs':>5} {'emerge':>6} | {'resolver':>8} {'ratio':>5} | {'cli':>6} {'ratio':>5} | emerge")
    for row in rows:
        emerge = float(row["emerge"])  # type: ignore[arg-type]
        resolver = float(row["resolver"])  # type: ignore[arg-type]
        cli = f"{row['cli']:6.2f} {float(row['cli']) / emerge:5.2f}" if row["cli"] is not None else f"{'-':>6} {'-':>5}"  # type: ignore[arg-type]
        print(f"{row['set']:8} {row['arch']:6} {row['atoms']:>5} {row['packages']:>5} {row['emerge_packages']:>6} | "
              f"{resolver:8.2f} {resolver / emerge:5.2f} | {cli} | {emerge:6.2f}")


def digest_of_subprocess(request: ResolveRequest) -> str:
    payload = {"request": request.to_json(), "cache_dir": str(CACHE)}
    out = subprocess.run([sys.executable, "-m", "swarm_celery.resolve.runner"], input=json.dumps(payload),
                         capture_output=True, text=True, check=True)
    return digest(json.loads(out.stdout)["plan"])


def digest(plan: dict[str, Any]) -> str:
    """The plan without its timings, every list in sorted order: the order portage gives two independent packages
    (in the merge order, in a package's dependency lists) already differs between two fresh processes."""
    canonical = {k: v for k, v in plan.items() if k != "timings"}
    canonical["merge_order"] = sorted(plan["merge_order"])
    canonical["packages"] = sorted(({k: sorted(v) if isinstance(v, list) else v for k, v in p.items()} for p in plan["packages"]),
                                   key=lambda p: str(p["cpv"]))
    canonical["dropped_edges"] = sorted(plan["dropped_edges"], key=lambda d: json.dumps(d, sort_keys=True))
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:12]


def in_process(scratch: Path, repeats: int) -> None:
    """medium amd64, then medium arm64, then amd64 again ...: each result against a fresh subprocess's."""
    first, second = (set_request(SHARED, "medium", arch, scratch) for arch in ("amd64", "arm64"))
    sequence = [first, second] * repeats
    fresh = {r.arch: digest_of_subprocess(r) for r in (first, second)}
    sub_times = [time_resolver(r)[0] for r in sequence]
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, json.dumps([r.to_json() for r in sequence]), str(CACHE)],
                         capture_output=True, text=True, check=True)
    results = [json.loads(line) for line in out.stdout.splitlines()]
    print("\nin-process (one python, runner.resolve repeatedly) vs one subprocess per resolve (PortageResolver):")
    print(f"{'#':>2} {'arch':6} {'in-process s':>12} {'subprocess s':>12} {'rss MB':>7}  same plan as a fresh process")
    for index, (request, result, sub) in enumerate(zip(sequence, results, sub_times, strict=True)):
        ours = digest(result["plan"])
        same = "yes" if ours == fresh[request.arch] else f"NO ({ours} vs {fresh[request.arch]})"
        print(f"{index + 1:>2} {request.arch:6} {result['seconds']:12.2f} {sub:12.2f} {result['rss_mb']:7}  {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sets", default="small,medium,server")
    parser.add_argument("--arches", default="amd64,arm64")
    parser.add_argument("--no-cli", action="store_true", help="do not time the whole `build-swarm resolve` command")
    parser.add_argument("--in-process", type=int, default=2, metavar="N", help="amd64/arm64 pairs resolved in one process (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-resolve-") as tmp:
        scratch, home = Path(tmp), Path(tmp) / "home"
        home.mkdir()
        (home / "cache").symlink_to(CACHE)  # the CLI's cache is $SWARM_HOME/cache: the same warm caches
        rows = []
        for name in args.sets.split(","):
            for arch in args.arches.split(","):
                try:
                    rows.append(bench_one(name, arch, args.runs, scratch, None if args.no_cli else home))
                except ResolveError as exc:
                    print(f"{name} {arch}: does not resolve: {exc}", flush=True)
                    continue
                print(json.dumps(rows[-1]), flush=True)
        print_table(rows, args.runs)
        if args.in_process:
            in_process(scratch, args.in_process)


if __name__ == "__main__":
    main()
