"""Benchmark: what the broker boundary costs the coordinator per package, against the coordinator's own work.

Same packages, same machine, same run. For every package a drone sends two reports (started, finished):

* baseline  — the coordinator taking those reports, already parsed: ``Coordinator.builds_started`` and
  ``builds_finished`` in batches of ``--batch`` on a real SQLite record (publishing is left out, so the
  baseline is the smallest honest one and the ratios below are upper bounds);
* validated — the boundary's strict parse of the same two reports as they arrive (``_start_report``,
  ``BuildResult.from_json``: ids, names, numbers, the artifact reference) and the signer check;
* signed    — the same plus Celery's ``auth`` serializer: each message signed by the drone's RSA-2048 key, and
  on the coordinator verified against its certificate store (the signing half is the drone's CPU, shown apart).

The target: validation plus verification at most 10 % of the coordinator's per-package CPU. The coordinator's
per-package CPU is measured where it is spent, on a live swarm (``--live``): Redis, a coordinator worker and drones
building a synthetic plan of ``--live-packages`` with no build time, once with unsigned messages and once signed (each
drone with its own certificate), alternating, ``--live-rounds`` each; the coordinator process's CPU seconds (user +
system, from resume to the session's end) per package are compared. With signing the coordinator also signs every build
request it sends, so the live difference is the whole boundary.

    .venv/bin/python benchmarks/trust.py [--packages 400] [--batch 25] [--runs 5] [--live] [--live-packages 600]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from celery.security.certificate import Certificate, FSCertStore  # noqa: E402
from celery.security.key import PrivateKey  # noqa: E402

from swarm_celery.domain.model import BuildResult, Plan  # noqa: E402
from swarm_celery.domain.trust import refusal  # noqa: E402
from swarm_celery.tasks.coordinator import _start_report  # noqa: E402
from swarm_celery.tasks.signing import NamingSerializer, create_certificate  # noqa: E402
from tests.coordinator_kit import identity, make_world, pkg, success  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from stack import run_plan  # noqa: E402
from throughput import synthetic_dag  # noqa: E402

Message = tuple[list[Any], dict[str, Any], dict[str, Any]]  # a task body as Celery sends it: args, kwargs, embed


def reports(folder: Path, count: int) -> tuple[Any, list[Message], list[Message]]:
    """A world with ``count`` dispatched attempts, and each attempt's start and completion message bodies."""
    world = make_world(folder)
    world.resolver.plan = Plan(packages=tuple(pkg(f"app-misc/p{i}-1") for i in range(count)),
                               merge_order=tuple(f"app-misc/p{i}-1" for i in range(count)))
    world.store.register_drone(identity("drone-1", slots=count))
    world.coordinator.plan("s1")
    requests = world.dispatcher.take()
    assert len(requests) == count, f"dispatched {len(requests)} of {count}"
    started = [([r.attempt_id, "drone-1", "amd64", time.time()], {}, {}) for r in requests]
    finished = [([success(r).to_json()], {}, {}) for r in requests]
    return world, started, finished


def baseline(world: Any, started: list[Message], finished: list[Message], batch: int) -> float:
    starts = [_start_report(*args) for args, _, _ in started]  # parsed beforehand: only the coordinator's work is timed
    results = [BuildResult.from_json(args[0]) for args, _, _ in finished]
    begin = time.perf_counter()
    for i in range(0, len(starts), batch):
        world.coordinator.builds_started(starts[i : i + batch])
    for i in range(0, len(results), batch):
        world.coordinator.builds_finished(results[i : i + batch])
    return time.perf_counter() - begin


def validated(started: list[Message], finished: list[Message]) -> float:
    begin = time.perf_counter()
    for args, _, _ in started:
        report = _start_report(*args)
        refusal("swarm.build_started", "drone-1", True, report.drone)
    for args, _, _ in finished:
        result = BuildResult.from_json(args[0])
        refusal("swarm.build_finished", "drone-1", True, result.drone)
    return time.perf_counter() - begin


def serializers(folder: Path) -> tuple[NamingSerializer, NamingSerializer]:
    """The drone's serializer (signs with its key) and the coordinator's (verifies against its store)."""
    create_certificate(folder / "drone-1", "drone-1")
    create_certificate(folder / "coordinator", "coordinator")
    store = folder / "store"
    store.mkdir()
    for name in ("drone-1", "coordinator"):
        (store / f"{name}.crt").write_bytes((folder / name / f"{name}.crt").read_bytes())

    def of(name: str) -> NamingSerializer:
        key, cert = folder / name / f"{name}.key", folder / name / f"{name}.crt"
        return NamingSerializer(PrivateKey(key.read_text()), Certificate(cert.read_text()), FSCertStore(str(store / "*.crt")), "sha256",
                                serializer="json")

    return of("drone-1"), of("coordinator")


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    begin = time.perf_counter()
    out = run()
    return time.perf_counter() - begin, out


def one_run(packages: int, batch: int) -> dict[str, float]:
    """Seconds per package of each part, on a fresh record and fresh keys."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        world, started, finished = reports(folder / "world", packages)
        drone, coordinator = serializers(folder / "certs")
        messages = started + finished
        signing, signed = timed(lambda: [drone.serialize(m) for m in messages])
        verifying, bodies = timed(lambda: [coordinator.deserialize(s) for s in signed])
        assert all(b[1]["signed_by"] == "drone-1" for b in bodies)
        out = {"baseline": baseline(world, started, finished, batch), "validated": validated(started, finished),
               "signing (drone)": signing, "verified": verifying}
        world.store.engine.dispose()
    return {name: seconds / packages for name, seconds in out.items()}


def live(packages: int, drones: int, rounds: int, redis_url: str) -> dict[str, list[float]]:
    """Coordinator CPU seconds per package on a live swarm, unsigned and signed, alternating which goes first."""
    plan = synthetic_dag(packages)
    out: dict[str, list[float]] = {"unsigned": [], "signed": []}
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp)
        names = ["coordinator", *(f"bench-{i:02d}" for i in range(drones))]
        for name in names:
            create_certificate(certs / name, name)
        store = certs / "store"
        store.mkdir()
        for name in names:
            (store / f"{name}.crt").write_bytes((certs / name / f"{name}.crt").read_bytes())

        def own(name: str) -> dict[str, str]:
            return {"SWARM_MESSAGE_KEY": str(certs / name / f"{name}.key"), "SWARM_MESSAGE_CERT": str(certs / name / f"{name}.crt"),
                    "SWARM_MESSAGE_CERTS": str(store)}

        base = {"SWARM_TIME_SCALE": "0"}
        for i in range(rounds):
            for kind in (("unsigned", "signed") if i % 2 == 0 else ("signed", "unsigned")):
                signed = kind == "signed"
                run = run_plan(plan, drones, redis_url, {**base, **(own("coordinator") if signed else {})},
                               drone_env=own if signed else None)
                out[kind].append(run.coordinator_cpu / run.published)
                print(f"live round {i + 1}/{rounds} {kind}: {run.coordinator_cpu / run.published * 1000:.2f} ms CPU per package",
                      file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=400)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="also measure the coordinator's CPU per package on a live swarm")
    parser.add_argument("--live-packages", type=int, default=600)
    parser.add_argument("--live-drones", type=int, default=4)
    parser.add_argument("--live-rounds", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8", help="the Redis database the live swarm may flush")
    opts = parser.parse_args()
    runs = []
    for run in range(opts.runs):
        runs.append(one_run(opts.packages, opts.batch))
        print(f"run {run + 1}/{opts.runs} done", file=sys.stderr)
    median = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    base = median["baseline"]
    print(f"{opts.packages} packages × 2 reports, batches of {opts.batch}, median of {opts.runs} runs")
    print(f"{'per package':<18}{'ms':>8}{'vs baseline':>13}")
    for name, value in median.items():
        print(f"{name:<18}{value * 1000:>8.3f}{value / base:>12.1%}")
    boundary = (median["validated"] + median["verified"]) / base
    print(f"boundary (coordinator): {boundary:.1%} of the coordinator's per-package work in the store (upper bound)")
    if opts.live:
        found = live(opts.live_packages, opts.live_drones, opts.live_rounds, opts.redis)
        unsigned, signed = statistics.median(found["unsigned"]), statistics.median(found["signed"])
        per_package = median["validated"] + median["verified"] + median["signing (drone)"] / 2  # it signs one build request
        print(f"live swarm, {opts.live_packages} packages on {opts.live_drones} drones, median of {opts.live_rounds} rounds:")
        print(f"  coordinator CPU per package: unsigned {unsigned * 1000:.2f} ms, signed {signed * 1000:.2f} ms "
              f"({signed / unsigned - 1:+.1%})")
        print(f"  the boundary's own cost (parse + verify two reports + sign one request): {per_package * 1000:.3f} ms = "
              f"{per_package / unsigned:.1%} of the unsigned coordinator's per-package CPU (target ≤ 10 %)")


if __name__ == "__main__":
    main()
