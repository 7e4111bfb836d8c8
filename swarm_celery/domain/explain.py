"""Why is a package where it is? Pure reasoning over facts gathered from the store (services/explain.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from swarm_celery.domain.model import PackageState


@dataclass(frozen=True, slots=True)
class DroneAvailability:
    name: str
    unavailable: str = ""  # why it takes no work now ("" when it does): paused, grounded until T, offline
    free: int = 0  # free slots


@dataclass(frozen=True, slots=True)
class ExplainFacts:
    cpv: str
    session: str
    state: PackageState
    reason: str
    arch: str
    now: float
    rank: float = 0.0
    not_before: float = 0.0
    dispatch_paused: bool = False
    drones: tuple[DroneAvailability, ...] = ()
    failed_on: frozenset[str] = frozenset()
    gates: Mapping[str, frozenset[str]] = field(default_factory=dict)  # the session's gates
    states: Mapping[str, PackageState] = field(default_factory=dict)  # every package of the session
    attempt_drone: str = ""
    attempt_since: float = 0.0


@dataclass(frozen=True, slots=True)
class Explanation:
    code: str
    summary: str
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "summary": self.summary, "details": list(self.details)}


def first_blockers(cpv: str, gates: Mapping[str, frozenset[str]], states: Mapping[str, PackageState]) -> list[str]:
    """The unpublished packages ``cpv`` waits for that wait for nothing unpublished themselves (the front of the path)."""
    front: set[str] = set()
    seen: set[str] = set()
    stack = [d for d in gates.get(cpv, ()) if states.get(d) != PackageState.PUBLISHED]
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        deeper = [d for d in gates.get(dep, ()) if states.get(d) != PackageState.PUBLISHED]
        if deeper:
            stack.extend(deeper)
        else:
            front.add(dep)
    return sorted(front)


def explain(f: ExplainFacts) -> Explanation:
    """One code and one sentence, plus details, for the package's state."""
    settled = _settled(f)
    if settled is not None:
        return settled
    if f.state in (PackageState.DISPATCHED, PackageState.BUILDING, PackageState.BUILT):
        verb = "building on" if f.state == PackageState.BUILDING else "dispatched to"
        return Explanation(f.state.value, f"{verb} {f.attempt_drone} since {_clock(f.attempt_since)}")
    return _waiting(f)


def _settled(f: ExplainFacts) -> Explanation | None:
    if f.state == PackageState.PUBLISHED:
        return Explanation("published", f"published (built by {f.attempt_drone or 'a drone'})")
    if f.state == PackageState.BLOCKED:
        return Explanation("blocked", f"blocked: {f.reason}", ("`build-swarm control unblock` puts it back in the queue",))
    if f.state == PackageState.SKIPPED:
        return Explanation("skipped", f"skipped: {f.reason}", ("unblock the package it needs to build it",))
    if f.state in (PackageState.CANCELLED, PackageState.FAILED):
        return Explanation(f.state.value, f"{f.state.value}: {f.reason or 'no reason recorded'}")
    return None


def _waiting(f: ExplainFacts) -> Explanation:
    unpublished = sorted(d for d in f.gates.get(f.cpv, ()) if f.states.get(d) != PackageState.PUBLISHED)
    if unpublished:
        front = first_blockers(f.cpv, f.gates, f.states)
        shown = ", ".join(f"{b} ({_front_state(f.states.get(b, PackageState.NEEDED))})" for b in front[:5])
        return Explanation("waiting_for_dependencies",
                           f"waiting for {len(unpublished)} build dependencies to be published; first on the path: {shown}",
                           tuple(f"needs {d} ({f.states.get(d, PackageState.NEEDED).value})" for d in unpublished))
    if f.dispatch_paused:
        return Explanation("paused", "ready, but dispatch is paused (`build-swarm control resume`)")
    if f.not_before > f.now:
        return Explanation("backoff", f"ready, retry after a failure not before {_clock(f.not_before)}", (f.reason,) if f.reason else ())
    return _placement(f)


def _placement(f: ExplainFacts) -> Explanation:
    if not f.drones:
        return Explanation("no_drone", f"ready, but no drone of {f.arch} has announced itself (start one: `build-swarm worker --role drone`)")
    eligible = [d for d in f.drones if d.name not in f.failed_on]
    if not eligible:
        return Explanation("all_drones_failed", f"ready, but every {f.arch} drone has failed it ({', '.join(sorted(f.failed_on))})",
                           ("`build-swarm control clear_failures` lets them try again",))
    usable = [d for d in eligible if not d.unavailable]
    if not usable:
        return Explanation("no_online_drone", f"ready, but no {f.arch} drone that may build it takes work now",
                           tuple(f"{d.name}: {d.unavailable}" for d in eligible))
    if not any(d.free for d in usable):
        return Explanation("ready", f"ready: every slot of {', '.join(d.name for d in usable)} is busy; it goes when one frees "
                                    f"(by remaining path: {f.rank:.0f} s)")
    return Explanation("ready", f"ready: placed at the next dispatch on {', '.join(d.name for d in usable if d.free)} "
                                f"(remaining path {f.rank:.0f} s)")


def _front_state(state: PackageState) -> str:
    """A first blocker waits for nothing unpublished: if it is still ``needed`` it only waits for a drone."""
    return "ready, waiting for a drone" if state == PackageState.NEEDED else state.value


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
