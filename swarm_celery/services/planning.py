"""Planning a session: resolve its world, compute the dispatch gates, persist the plan, dispatch the first wave.

For a build profile's session the plan is compared with what the profile published
(by binary-package identity, domain.identity): each package records why it is built,
and — unless the sync asked for everything — what is unchanged is not built again.
Any other session skips what the binhost holds already with the same identity, whichever
session built it, unless it was queued with ``--rebuild``. Either way an identity counts only while
the newest file published with it (the one a generation of the session takes) is still in the arch's
staging tree: one whose file ``binhost purge --budget`` pruned is built again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from swarm_celery.domain.config import ResolveRequest
from swarm_celery.domain.disk_budget import build_key
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.graph import dispatch_gates
from swarm_celery.domain.identity import diff_plans
from swarm_celery.domain.model import Plan, SessionState
from swarm_celery.domain.records import SessionInfo
from swarm_celery.domain.scheduling import expected_seconds, remaining_paths
from swarm_celery.errors import ResolveError
from swarm_celery.ports import PlanStore, Publisher, Resolver, SessionEnd
from swarm_celery.services.dispatch import Dispatcher

log = logging.getLogger(__name__)
HELD = "unchanged: the binhost holds it already with the same identity (queue with --rebuild to build it again)"
PRUNED = ("built again: published before with the same identity, but no file of it is left in this arch's staging tree "
          "(binhost purge --budget pruned it, or it was built for another arch or as a simulated/real build)")
KIND_NOTES = {True: "builds are SIMULATED: this swarm's coordinator runs SWARM_BUILDER=simulate; only simulating drones build it",
              False: "builds are real: this swarm's coordinator runs SWARM_BUILDER=emerge; only drones that build with emerge build it"}


class Planner:
    def __init__(self, store: PlanStore, resolver: Resolver, dispatcher: Dispatcher, prior: Durations,
                 simulated: bool | None = None, on_complete: Callable[[str], None] | None = None, *,
                 staging: Publisher) -> None:
        self.store = store
        self.staging = staging  # whether a published file is still in its arch's staging tree
        self.on_complete = on_complete  # a session just completed (nothing to build: its binhost generation is made)
        self.resolver = resolver
        self.dispatcher = dispatcher
        self.prior = prior
        self.simulated = simulated  # whether this swarm simulates its builds (None: as the session was queued)

    def plan(self, session_id: str) -> int:
        """Resolve and persist the session's plan, then dispatch the first wave. Returns packages planned."""
        session = self.store.get_session(session_id)
        if session is None:
            raise LookupError(f"session {session_id} does not exist")
        if session.state != SessionState.PLANNING:
            log.info("session %s is %s already; plan ignored", session_id, session.state)
            return 0
        request = ResolveRequest.from_json(json.loads(session.request_json))
        if self.simulated is not None:  # a property of the swarm, whatever the queuer's SWARM_BUILDER said
            self.store.set_simulated(session_id, self.simulated, KIND_NOTES[self.simulated])
        try:
            plan = self.resolver.resolve(request)
            self.save_plan(session_id, plan, session)
        except ResolveError as exc:
            self.store.fail_session(session_id, str(exc))
            return 0
        except Exception as exc:  # a bug or an outage must not leave the session "planning" forever
            self.store.fail_session(session_id, f"planning failed ({type(exc).__name__}: {exc}); see the coordinator log")
            raise
        self.dispatcher.dispatch(session.arch)
        if finish_if_done(self.store, session_id) and self.on_complete is not None:  # nothing to build: complete at once
            self.on_complete(session_id)
        return len(plan.packages)

    def save_plan(self, session_id: str, plan: Plan, session: SessionInfo | None = None) -> None:
        """Gates, expected build times and critical-path ranks, persisted with the plan in one transaction."""
        gates = dispatch_gates(plan)
        history = self.store.history_seconds()
        expected = {p.cpv: expected_seconds(p.cpv, history, self.prior) for p in plan.packages}
        reasons: dict[str, str] = {}
        reused: frozenset[str] = frozenset()
        if session and session.build_profile:
            reasons, reused = self._compare_with_published(session, plan)
        elif session and session.reuse:
            reasons, reused = self._held_already(session, plan)
        self.store.save_plan(session_id, plan, gates, expected, remaining_paths(gates, expected), reasons, reused)

    def _compare_with_published(self, session: SessionInfo, plan: Plan) -> tuple[dict[str, str], frozenset[str]]:
        """A profile's session: why each package is built (new, or what changed, by identity), and — when it builds
        changes only — the packages the profile published already with the same identity, which are not built again.
        A dependent whose ``:=`` dependency changed sub-slot has a new identity itself, so it is rebuilt too."""
        previous = self.store.published_plan(session.build_profile)
        diff = diff_plans(previous, plan)
        reasons = {p.cpv: "new in this profile" for p in diff.new}
        reasons |= {c.new.cpv: "changed: " + "; ".join(r.text for r in c.reasons) for c in diff.changed}
        if not session.reuse:
            return reasons, frozenset()
        identities = {p.identity for p in previous.packages}
        published = self._on_disk(session, identities)
        reused = frozenset(p.cpv for p in plan.packages if p.identity and p.identity in published)
        pruned = {p.cpv: PRUNED for p in plan.packages if p.identity in identities - published and p.cpv not in reasons}
        return reasons | pruned | dict.fromkeys(reused, "unchanged: published already with the same identity"), reused

    def _held_already(self, session: SessionInfo, plan: Plan) -> tuple[dict[str, str], frozenset[str]]:
        """The packages of ``plan`` the binhost holds already with the same identity (built by any session like this one:
        simulated builds count for simulated sessions only), and why each is or is not built."""
        published = self.store.published_identities(session.arch, self._simulated(session))
        wanted = {p.identity for p in plan.packages if p.identity in published}
        held = self._on_disk(session, wanted)
        reused = frozenset(p.cpv for p in plan.packages if p.identity and p.identity in held)
        return {p.cpv: PRUNED for p in plan.packages if p.identity in wanted - held} | dict.fromkeys(reused, HELD), reused

    def _on_disk(self, session: SessionInfo, identities: Iterable[str]) -> frozenset[str]:
        """Of ``identities``, those whose newest file published for the session's arch (by a session built the same
        way: the file its generation takes) is still in staging; ``binhost purge --budget`` may have pruned it."""
        arch = session.arch
        wanted = {build_key(identity, self._simulated(session)): identity for identity in identities if identity}
        newest: dict[str, tuple[float, str]] = {}
        for path, (key, at) in self.store.staged_builds(arch).items():
            if key in wanted and (at, path) > newest.get(key, (float("-inf"), "")):
                newest[key] = (at, path)
        return frozenset(wanted[key] for key, (_, path) in newest.items() if self.staging.holds(arch, path))

    def _simulated(self, session: SessionInfo) -> bool:
        """Whether the session's builds are simulated: as this swarm builds, else as it was queued."""
        return self.simulated if self.simulated is not None else session.simulated


def finish_if_done(store: SessionEnd, session_id: str) -> bool:
    """The session is complete once every package of it is final; True when this call completed it."""
    return store.session_finished(session_id) and store.finish_session(session_id)


__all__ = ["Planner", "finish_if_done"]
