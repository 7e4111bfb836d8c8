"""Where a real-stack run's time went, from the attempts' timestamps in its SQLite store.

* per build, on the drones: the gap between one build's end and the next one's start on the
  same drone when the next was already sent (pick-up), and how far builds ran past their
  scaled expected time (overshoot);
* along the critical chain as it really ran (from the last publication back through the gate
  published last): waiting for dispatch after the gates were published, queued on the drone,
  building past the expected time, and finished → published (the report and its batch).

    .venv/bin/python benchmarks/timeline.py SWARM_HOME [--scale 0.01]
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Breakdown:
    pickup_ms: float  # mean gap between builds on one drone when the next was queued there
    overshoot_ms: float  # mean wall time past the scaled expected build time
    chain_links: int
    chain_dispatch: float  # seconds, summed over the chain: gates published → dispatched
    chain_queue: float  # dispatched → started
    chain_publish: float  # finished → published

    def line(self) -> str:
        return (f"per build: pick-up {self.pickup_ms:.1f} ms, overshoot {self.overshoot_ms:.1f} ms | critical chain of "
                f"{self.chain_links}: dispatch {self.chain_dispatch:.2f} s, queued {self.chain_queue:.2f} s, "
                f"report→published {self.chain_publish:.2f} s")


def breakdown(home: Path, scale: float) -> Breakdown:
    with sqlite3.connect(home / "swarm.db") as db:
        rows = {pid: (drone, disp, start, fin, pub, exp) for pid, drone, disp, start, fin, pub, exp in db.execute(
            "SELECT package_id, drone, dispatched_at, started_at, finished_at, published_at, expected FROM attempts "
            "WHERE outcome = 'success' AND started_at IS NOT NULL")}
        gates: dict[int, list[int]] = {}
        for pid, needs in db.execute("SELECT package_id, requires_id FROM gates"):
            gates.setdefault(pid, []).append(needs)
    pickups, overshoots = [], []
    by_drone: dict[str, list[tuple[float, float, float]]] = {}
    for drone, disp, start, fin, _, exp in rows.values():
        by_drone.setdefault(drone, []).append((start, fin, disp))
        overshoots.append((fin - start) - exp * scale)
    for builds in by_drone.values():
        builds.sort()
        pickups += [b[0] - a[1] for a, b in itertools.pairwise(builds) if b[2] < a[1]]
    chain, current = [], max(rows, key=lambda p: rows[p][4])
    while True:
        chain.append(current)
        done = [g for g in gates.get(current, []) if g in rows]
        if not done:
            break
        current = max(done, key=lambda g: rows[g][4])
    first = min(r[1] for r in rows.values())
    dispatch = queue = publish = 0.0
    for pid in chain:
        _, disp, start, fin, pub, _ = rows[pid]
        ready = max((rows[g][4] for g in gates.get(pid, []) if g in rows), default=first)
        dispatch, queue, publish = dispatch + max(0.0, disp - ready), queue + start - disp, publish + pub - fin
    return Breakdown(statistics.fmean(pickups) * 1000 if pickups else 0.0, statistics.fmean(overshoots) * 1000,
                     len(chain), dispatch, queue, publish)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path, help="the SWARM_HOME of a run (schedule_real prints it)")
    parser.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args()
    print(breakdown(args.home, args.scale).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
