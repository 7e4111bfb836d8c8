"""The light drones of the fleet-scale benchmark speak a drone's real protocol: a whole plan built through the real
coordinator on light drones hosted many to a process (benchmarks/light_drones.py), each drone heard, building, and
gone when its process stops."""

from __future__ import annotations

import sys
from collections import Counter

import pytest
from sqlalchemy import create_engine

from swarm_celery.store.queries import Queries
from tests.conftest import ROOT
from tests.integration.swarm_kit import fresh_redis

sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_plan import plan_durations, synthetic_plan
from stack import run_plan

pytestmark = pytest.mark.slow
PACKAGES, DRONES = 300, 12


def test_a_plan_builds_on_light_drones_through_the_real_coordinator(redis_url: str) -> None:
    plan = synthetic_plan(PACKAGES)
    table = ROOT / ".cache" / "light-drones-durations.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("package,seconds\n" + "".join(f"{k},{v}\n" for k, v in plan_durations(plan).seconds.items()))
    run = run_plan(plan, DRONES, fresh_redis(redis_url), {"SWARM_TIME_SCALE": "0", "SWARM_SLOTS": "2", "SWARM_DURATIONS": str(table)},
                   timeout=300, light_hosts=2)
    assert run.published == PACKAGES
    queries = Queries(create_engine(f"sqlite:///{run.home / 'swarm.db'}"))
    builders = Counter(h.drone for h in queries.history(run.session) if h.published_at)
    assert set(builders) <= {f"light-{i:03d}" for i in range(DRONES)} and len(builders) >= DRONES // 2, builders
    assert sum(builders.values()) == PACKAGES  # every package built once: nothing lost, nothing twice
    fleet = {d.name: d.state for d in queries.fleet()}
    assert len(fleet) == DRONES and set(fleet.values()) == {"offline"}, fleet  # each said hello, then goodbye
    assert run.drones_cpu > 0 and run.coordinator_cpu > 0
