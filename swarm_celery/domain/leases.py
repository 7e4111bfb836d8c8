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

A third rule covers the broker: Redis keeps nothing on disk here, so a restart or a flush
loses every message it held. An attempt dispatched and not started whose message is in no
queue and in no worker's hands (:func:`lost_in_broker`) is placed again, once the census saw
it missing twice in a row (a message moving between a queue and a worker is missed by one
census at most).
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


def lost_in_broker(leases: Iterable[Lease], held: frozenset[str], suspects: frozenset[str]) -> tuple[list[Reclaim], frozenset[str]]:
    """Attempts dispatched and not started that the broker holds nowhere (``held``: every build and report message
    it has, queued or in a worker's hands), and were missing at the previous census too (``suspects``).

    Returns them and the suspects for the next census (the missing ones not taken back now).
    """
    missing = {item.attempt_id: item for item in leases if not item.started and item.attempt_id not in held}
    lost = [Reclaim(item.attempt_id, item.drone, f"{item.cpv}: its message to {item.drone} is in no broker queue "
                                                  "(the broker restarted or was flushed)", drone_silent=False)
            for attempt_id, item in sorted(missing.items()) if attempt_id in suspects]
    return lost, frozenset(missing) - {r.attempt_id for r in lost}


__all__ = ["Lease", "Reclaim", "expired", "lost_in_broker"]
