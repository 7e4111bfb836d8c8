"""Synthetic plans shaped like real ones, at any size: layered DAGs for the scale benchmark.

Packages sit in layers; each takes about 2.85 build dependencies from the layers below it
(mostly the nearer ones) and a run-time dependency or two on the "libraries" (the lowest
tenth), whose own run-time closures stay small, as in real plans: about 12 dispatch gates
per package (domain.graph.dispatch_gates). Names come from the shared build-durations
table, so expected build times are drawn from real medians.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import Plan, PlannedPackage

BUILD_DEPS = 3.0  # drawn per package; duplicates collapse, leaving about 2.85 as in the shared plans
RUN_DEPS = 1.9  # mean run-time dependencies
LAYERS = 40


def durations() -> Durations:
    """The shipped table of median build seconds per ``category/package``."""
    text = (Path(__file__).resolve().parents[1] / "swarm_celery" / "data" / "build-durations.csv").read_text()
    return Durations({row["package"]: float(row["seconds"]) for row in csv.DictReader(text.splitlines())})


def _names(n: int, table: Durations, rng: random.Random) -> list[str]:
    """``n`` distinct cpvs: the table's packages, then copies of them (``-copyN``) once it runs out."""
    base = sorted(table.seconds)
    rng.shuffle(base)
    return [f"{base[i % len(base)]}{'' if i < len(base) else f'-copy{i // len(base)}'}-1.0" for i in range(n)]


def plan_durations(plan: Plan) -> Durations:
    """The table, with each copy of a package given the original's seconds."""
    table = durations()
    seconds = dict(table.seconds)
    for p in plan.packages:
        key = p.cpv.rsplit("-", 1)[0]
        original = key.split("-copy")[0]
        if key != original and original in table.seconds:
            seconds[key] = table.seconds[original]
    return Durations(seconds)


def _count(mean: float, rng: random.Random) -> int:
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def synthetic_plan(n: int, seed: int = 19) -> Plan:
    """A DAG of ``n`` packages in merge order (dependencies first)."""
    rng = random.Random(seed)
    names = _names(n, durations(), rng)
    per_layer = max(1, n // LAYERS)
    libraries = max(1, n // 10)
    packages: list[PlannedPackage] = []
    for i, cpv in enumerate(names):
        layer_start = (i // per_layer) * per_layer
        build: set[str] = set()
        if layer_start:
            for _ in range(_count(BUILD_DEPS, rng)):
                back = min(layer_start, int(rng.expovariate(1 / (3 * per_layer))) + 1)
                build.add(names[layer_start - back])
        run: set[str] = set()
        pool = min(i, libraries)
        if pool:
            for _ in range(_count(RUN_DEPS if i >= libraries else 0.3, rng)):
                run.add(names[rng.randrange(pool)])
        packages.append(PlannedPackage(cpv, "0", "0", "gentoo", ("ssl",), tuple(sorted(build)), tuple(sorted(run))))
    return Plan(packages=tuple(packages), merge_order=tuple(names), arch="amd64")


__all__ = ["durations", "plan_durations", "synthetic_plan"]
