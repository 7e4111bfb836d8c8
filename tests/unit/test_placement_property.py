"""place() decides exactly as the straightforward placer it replaces, kept as the reference.

The reference (``tests/placement_reference.py``) compares every slot of every drone for each
package; the indexed search must find the same drone and slot, with the same ties, on any
fleet and candidate list.
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarm_celery.domain.scheduling import Candidate, DroneCapacity, Placement, place
from tests.placement_reference import reference_place

# random fleets and ready lists: few distinct values, so that ties are common -----------------------------------
NOW = 100.0
NAMES = [f"d{i}" for i in range(12)]
times = st.one_of(st.sampled_from([0.0, 50.0, 99.5, NOW, 100.2, 101.0, 110.0, 130.0, 200.0]),
                  st.floats(0.0, 400.0, allow_nan=False))
speeds = st.one_of(st.sampled_from([0.5, 1.0, 1.0, 1.5, 2.0]), st.floats(0.1, 4.0, allow_nan=False))
weights = st.one_of(st.sampled_from([0.0, 1.0, 5.0, 10.0, 30.0, 100.0]), st.floats(0.0, 500.0, allow_nan=False))


@st.composite
def fleets(draw: st.DrawFn) -> list[DroneCapacity]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=10))  # duplicates allowed: the last one counts
    return [DroneCapacity(name, draw(st.integers(-1, 3)), draw(speeds), tuple(draw(st.lists(times, max_size=3))),
                          draw(st.sampled_from([0, 0, 0, 1, 2]))) for name in names]


@st.composite
def ready_lists(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 25))
    return [Candidate(f"p{i}", draw(st.sampled_from([1.0, 5.0, 50.0]) | st.floats(0.0, 1000.0)), draw(weights),
                      draw(st.sampled_from([0, 0, 0, 1])), draw(st.integers(0, 5)),
                      draw(st.sampled_from([0.0, 0.0, 0.0, NOW, 100.5, 120.0, 300.0])),
                      frozenset(draw(st.lists(st.sampled_from(NAMES), max_size=4))))
            for i in range(count)]


def _decisions(p: Placement) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str], list[str]]:
    return ([(c.key, d) for c, d in p.assignments], [(c.key, d) for c, d in p.held],
            [c.key for c in p.waiting_backoff], [c.key for c in p.no_drone])


@settings(max_examples=300, deadline=None)
@given(ready_lists(), fleets(), st.sampled_from([math.inf, 0.3, 5.0]))
def test_place_decides_as_the_reference(candidates: list[Candidate], drones: list[DroneCapacity], horizon: float) -> None:
    assert _decisions(place(candidates, drones, NOW, horizon)) == _decisions(reference_place(candidates, drones, NOW, horizon))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_place_decides_as_the_reference_on_large_mixed_fleets(seed: int) -> None:
    """Dozens of drones, mostly busy, and a long ready list: the search prunes most drones and must still agree."""
    rng = random.Random(seed)
    drones = [DroneCapacity(f"d{i}", rng.choice([0, 0, 0, 1, 2]), rng.choice([0.5, 1.0, rng.uniform(0.5, 2.0)]),
                            tuple(NOW + rng.choice([-20.0, 0.0, rng.uniform(-5, 300)]) for _ in range(rng.randint(0, 2))),
                            rng.choice([0, 0, 1]))
              for i in range(rng.randint(1, 120))]
    cands = [Candidate(f"p{i}", rng.choice([10.0, rng.uniform(0, 5000)]), rng.choice([0.0, 30.0, rng.uniform(0, 900)]),
                       0, i, rng.choice([0.0, 0.0, 0.0, 0.0, NOW + rng.uniform(0, 100)]),
                       frozenset(f"d{rng.randrange(120)}" for _ in range(rng.choice([0, 0, 1, 3]))))
             for i in range(rng.randint(0, 200))]
    horizon = rng.choice([math.inf, 0.3])
    assert _decisions(place(cands, drones, NOW, horizon)) == _decisions(reference_place(cands, drones, NOW, horizon))


def test_place_agrees_on_odd_numbers() -> None:
    """Infinite and NaN times or speeds leave the index: every drone is compared, as the reference does."""
    drones = [DroneCapacity("a", 1, math.inf), DroneCapacity("b", 0, 1.0, (math.nan,)), DroneCapacity("c", 1, 1.0, (math.inf,))]
    cands = [Candidate("x", 3.0, math.inf), Candidate("y", 2.0, 5.0), Candidate("z", 1.0, 0.0, not_before=math.inf)]
    assert _decisions(place(cands, drones, NOW)) == _decisions(reference_place(cands, drones, NOW))
