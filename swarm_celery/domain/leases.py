"""Which attempts in flight the coordinator takes back: the lease rules of stale-work reclaim (pure).

An attempt is a lease on a package. A drone renews the leases of the builds it is running
with every heartbeat (its worker reports their ids); a drone that stops answering renews
nothing. An attempt is reclaimed when

* its drone has not been heard from for ``offline_after`` seconds (dead, frozen, cut off):
  everything dispatched to it, started or not, goes back; or
* it started, and neither its start nor any heartbeat since renewed it within ``lease``
  seconds, although the drone itself is alive (the build's process vanished, or the drone
  restarted and lost it).

A long build whose drone keeps heart-beating is never reclaimed, however long it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    attempt_id: str
    cpv: str
    drone: str
    started: bool
    renewed_at: float  # the latest of dispatch, start, and the drone's heartbeats naming this attempt


@dataclass(frozen=True, slots=True)
class Reclaim:
    attempt_id: str
    drone: str
    reason: str
    drone_silent: bool  # taken back because the drone fell silent (it is offline), not because one build vanished


def expired(leases: Iterable[Lease], last_seen: Mapping[str, float], now: float, *, lease: float,
            offline_after: float) -> list[Reclaim]:
    """The attempts to take back now, each with the reason (for the event and the package)."""
    out: list[Reclaim] = []
    for item in leases:
        seen = last_seen.get(item.drone)
        if seen is None or now - seen > offline_after:
            silent = "never heard from" if seen is None else f"silent for {now - seen:.0f} s"
            out.append(Reclaim(item.attempt_id, item.drone, f"{item.cpv}: drone {item.drone} {silent} (offline after {offline_after:.0f} s)",
                               drone_silent=True))
        elif item.started and now - item.renewed_at > lease:
            out.append(Reclaim(item.attempt_id, item.drone, f"{item.cpv}: its build on {item.drone} sent no heartbeat for "
                                                            f"{now - item.renewed_at:.0f} s (lease {lease:.0f} s)", drone_silent=False))
    return out


__all__ = ["Lease", "Reclaim", "expired"]
