"""The placer's view of the fleet: each drone's slots, and an index that finds where a package finishes first.

Used by :func:`swarm_celery.domain.scheduling.place`. On drone ``d`` a build of ``w``
expected seconds released at ``r`` finishes at ``start + w × speed_d``, and ``start`` is
never before ``r`` nor before ``low_d``, the earliest any of ``d``'s slots can take a
build. The drones are split into bands of similar speed (about √drones each), each band
sorted by ``(low, speed, idle slots, name)``. A search takes the bands in the order of
``max(r, the band's earliest low) + w × its fastest speed`` — no drone of the band can
finish before that — and skips the rest once that bound is past the best finish found.
Within a band it looks first at the drones that can start at ``r`` (the fastest of them
finishes first), then at the others in the order they free up, until ``low + w × the
band's fastest speed`` is past the best. The search is exact (the same drone and slot,
with the same ties, as comparing every slot of every drone) and looks at a handful of
drones; each decision re-sorts the one drone it changed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

Key = tuple[float, float, int, str]  # (expected finish, speed, -idle slots, name): the lowest wins
Entry = tuple[float, float, int, str]  # (low, speed, -idle slots, name): the index's order


class Capacity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def free(self) -> int: ...
    @property
    def speed(self) -> float: ...
    @property
    def busy_until(self) -> tuple[float, ...]: ...
    @property
    def lookahead(self) -> int: ...


@dataclass(slots=True)
class Slot:
    at: float  # when it can start another build: now if idle, else the expected end of what runs on or is promised to it
    idle: bool = False  # nothing runs on it right now
    gap_until: float | None = None  # idle, but promised to a package in backoff from then: only a build ending first fits


@dataclass(slots=True)
class Drone:
    name: str
    speed: float
    slots: list[Slot]
    lookahead: int = 0
    idle: int = 0  # slots with nothing running: ties on finish and speed go to the freer drone
    low: float = 0.0  # no build starts here before this (a slot's time; now, for the gap before a promise)

    @classmethod
    def of(cls, capacity: Capacity, now: float, overrun: float) -> Drone:
        """Free slots idle now; busy ones free at their expected end, or — overrun — some time after now."""
        free = max(0, capacity.free)
        ends = [t if t >= now else now + overrun * (now - t) for t in sorted(capacity.busy_until)]
        slots = [Slot(now, True) for _ in range(free)] + [Slot(t) for t in ends]
        low = math.nan if any(map(math.isnan, ends)) else now if free else min(ends, default=math.inf)
        return cls(capacity.name, capacity.speed, slots, capacity.lookahead, free, low)

    @property
    def open(self) -> bool:
        return self.lookahead > 0 or self.idle > 0

    @property
    def entry(self) -> Entry:
        return (self.low, self.speed, -self.idle, self.name)

    def refresh(self, now: float) -> None:
        self.idle = sum(s.idle for s in self.slots)
        self.low = _low(self.slots, now)

    def earliest(self, release: float, seconds: float, now: float) -> tuple[float, Slot]:
        """When, and in which slot, a build of ``seconds`` that may not start before ``release`` can start first."""
        def start(slot: Slot) -> float:
            if slot.gap_until is not None and release <= now and now + seconds <= slot.gap_until:
                return now  # it ends before the package in backoff needs the slot
            return max(release, slot.at)
        first = min(self.slots, key=start)
        return start(first), first


def _low(slots: list[Slot], now: float) -> float:
    """The earliest any of the slots can take a build (now, before a promise); NaN if any time is NaN."""
    times = [s.at if s.gap_until is None else min(now, s.at) for s in slots]
    return math.nan if any(math.isnan(t) for t in times) else min(times, default=math.inf)


Choice = tuple[Key, Drone, float, Slot]  # its key, the drone, the start, the slot


@dataclass(slots=True)
class Band:
    fastest: float  # no drone of the band builds faster
    order: list[Entry]  # its drones, sorted


class Fleet:
    """The drones that may take work, indexed for the finish-first search."""

    def __init__(self, drones: Mapping[str, Drone], now: float) -> None:
        self.drones = drones
        self.now = now
        self.open = sum(d.open for d in drones.values())  # drones that may take another build now
        # the search relies on the order of times and speeds: any NaN or infinite speed and every search compares all
        self.exact = math.isfinite(now) and all(math.isfinite(d.speed) and not math.isnan(d.low) for d in drones.values())
        self.bands: list[Band] = []  # drones of similar speed, each band sorted by entry
        self.band_of: dict[str, Band] = {}
        if self.exact:
            by_speed = sorted(drones.values(), key=lambda d: d.speed)
            size = max(8, math.isqrt(len(by_speed)))
            for i in range(0, len(by_speed), size):
                band = Band(by_speed[i].speed, sorted(d.entry for d in by_speed[i:i + size]))
                self.bands.append(band)
                self.band_of.update((d.name, band) for d in by_speed[i:i + size])

    @classmethod
    def of(cls, capacities: Iterable[Capacity], now: float, overrun: float) -> Fleet:
        return cls({c.name: Drone.of(c, now, overrun) for c in capacities if c.free > 0 or c.busy_until}, now)

    def any_for(self, excluded: frozenset[str]) -> bool:
        """Whether some drone has not failed the package."""
        return len(excluded) < len(self.drones) or any(n not in excluded for n in self.drones)

    def finish_first(self, weight: float, release: float, excluded: frozenset[str]) -> Choice | None:
        """The drone (its start and slot) where a build finishes first; then the faster, the freer drone; then by name."""
        if self.exact and 0.0 <= weight < math.inf:
            return self._search(weight, release, excluded)
        best: Choice | None = None
        for drone in self.drones.values():
            if drone.name not in excluded:
                best = self._better(drone, weight, release, best)
        return best

    def _search(self, weight: float, release: float, excluded: frozenset[str]) -> Choice | None:
        """Band by band, the one whose drones could finish first first; a band none of whose drones can beat the best
        found is skipped (no drone in it starts before its earliest slot nor builds faster than its fastest)."""
        floors = sorted((max(release, band.order[0][0]) + weight * band.fastest, i)
                        for i, band in enumerate(self.bands) if band.order)
        best: Choice | None = None
        for floor, i in floors:
            if best is not None and floor > best[0][0]:
                break
            best = self._search_band(self.bands[i], weight, release, excluded, best)
        return best

    def _search_band(self, band: Band, weight: float, release: float, excluded: frozenset[str],
                     best: Choice | None) -> Choice | None:
        order = band.order
        ready = order[:bisect_right(order, (release, math.inf))]  # may start at release: their finish is release + w × speed
        if len(ready) > 1 and ready[0][0] != ready[-1][0]:
            ready.sort(key=lambda e: e[1:])
        for _, speed, less_idle, name in ready:
            if name in excluded:
                continue
            if best is not None and (release + weight * speed, speed, less_idle, name) > best[0]:
                break
            best = self._better(self.drones[name], weight, release, best)
        floor = weight * band.fastest
        for i in range(len(ready), len(order)):  # the others, as they free up: none left beats low + w × fastest
            low, speed, less_idle, name = order[i]
            if best is not None and low + floor > best[0][0]:
                break
            if name in excluded or (best is not None and (low + weight * speed, speed, less_idle, name) > best[0]):
                continue
            best = self._better(self.drones[name], weight, release, best)
        return best

    def _better(self, drone: Drone, weight: float, release: float, best: Choice | None) -> Choice:
        start, slot = drone.earliest(release, weight * drone.speed, self.now)
        key = (start + weight * drone.speed, drone.speed, -drone.idle, drone.name)
        return (key, drone, start, slot) if best is None or key < best[0] else best

    def changed(self, drone: Drone, entry: Entry, was_open: bool) -> None:
        """``drone`` (indexed as ``entry``) took a build or a promise: sort it again."""
        drone.refresh(self.now)
        self.open += drone.open - was_open
        if not self.exact:
            return
        order = self.band_of[drone.name].order
        del order[bisect_left(order, entry)]
        if math.isnan(drone.low):
            self.exact = False
            return
        insort(order, drone.entry)


__all__ = ["Drone", "Fleet", "Slot"]
