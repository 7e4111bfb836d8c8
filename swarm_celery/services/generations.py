"""Binhost generations: make one when a profile's session completes, publish, roll back, mark, compare, purge.

Drones read the staging tree (everything built so far); clients read the *published generation*
of their build profile and arch (domain.generations). When a session of a build profile completes,
:meth:`Generations.on_complete` makes a generation of its whole world (every package it published
or found published with the same identity) and publishes it if every package of the session was
published: a client never sees a half-built world. The files are behind the GenerationFiles port
(binhost.generations), what a session published behind GenerationRecord (the store).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from swarm_celery.domain.generations import (
    Generation,
    GenerationDiff,
    GenerationRef,
    bucketed,
    diff_generations,
    protected,
    rollback_target,
    to_purge,
)
from swarm_celery.domain.model import AttemptState, PackageState, SessionState
from swarm_celery.domain.records import SessionInfo
from swarm_celery.domain.snapshots import Snapshot
from swarm_celery.errors import NotFoundError, UserError
from swarm_celery.ports import Clock
from swarm_celery.ports.generations import GenerationFiles, GenerationRecord
from swarm_celery.services.generation_budget import Budget, BudgetFit

log = logging.getLogger(__name__)
UPLOAD_AGE = 3600.0  # seconds an upload of an attempt no longer in flight is left alone before GC takes it
IN_FLIGHT = frozenset({AttemptState.DISPATCHED, AttemptState.STARTED})


@dataclass(frozen=True)
class GenerationView:
    generation: Generation
    published: bool
    kept: bool
    tags: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return self.generation.to_json() | {"published": self.published, "kept": self.kept, "tags": list(self.tags)}


@dataclass(frozen=True)
class Purge:
    removed: tuple[str, ...]  # generations (PROFILE/ARCH/N)
    kept: dict[str, str]  # generation → why it stays
    dry_run: bool
    budget: Budget | None = None  # what the disk budget did (None: no budget was given)

    def to_json(self) -> dict[str, object]:
        return {"removed": list(self.removed), "kept": self.kept, "dry_run": self.dry_run,
                "budget": self.budget.to_json() if self.budget else None}


class Generations:
    def __init__(self, files: GenerationFiles, record: GenerationRecord, clock: Clock) -> None:
        self.files = files
        self.record = record
        self.clock = clock

    # ------------------------------------------------------------------------------------- making

    def on_complete(self, session_id: str) -> None:
        """A session ended: a profile's complete session becomes a generation (published when its world is whole).
        Never raises: the builds are published either way; what went wrong is an event."""
        session = self.record.get_session(session_id)
        if session is None or not session.build_profile or session.state != SessionState.COMPLETE:
            return
        try:
            self.for_session(session_id)
        except Exception as exc:  # the session's end must not fail with it
            log.exception("no generation for session %s", session_id)
            self.record.add_event("binhost.generation_failed", f"{session.build_profile}: no generation for session "
                                  f"{session_id}: {exc}; make it with `build-swarm binhost create --session {session_id}`",
                                  session_id, session.build_profile)

    def for_session(self, session_id: str, profile: str = "", publish: bool | None = None) -> GenerationView:
        """A generation of the complete session's world; published when ``publish`` (default: when it is whole)."""
        session = self._complete_session(session_id)
        profile = profile or session.build_profile
        if not profile:
            raise UserError(f"session {session_id} is not a build profile's: name the profile its generation belongs to "
                            "with --profile")
        paths = self.record.published_paths(session_id)
        tree, snapshot = self._snapshot(session)
        archive = Path(snapshot.path) if snapshot is not None and snapshot.path else None
        counts = self.record.counts(session_id)
        whole = counts.get(PackageState.PUBLISHED) == counts.planned
        note = "" if whole else f"{counts.planned - counts.get(PackageState.PUBLISHED)} of {counts.planned} packages not published"
        made = Generation(GenerationRef(profile, session.arch, 1), self.clock.now(), session_id, snapshot.id if snapshot else "",
                          tree, note=note)
        generation = self.files.create(profile, session.arch, sorted(set(paths.values())), made, archive)
        published = whole if publish is None else publish
        if published:
            self.files.publish(generation.ref)
        self.record.add_event("binhost.generation", f"{generation.ref}: {generation.packages} packages of session {session_id}"
                              + (", published" if published else f", not published ({note or 'by request'})"),
                              session_id, profile)
        return self._view(generation)

    def _complete_session(self, session_id: str) -> SessionInfo:
        session = self.record.get_session(session_id)
        if session is None:
            raise NotFoundError(f"no session {session_id}; `build-swarm history` lists them")
        if session.state != SessionState.COMPLETE:
            raise UserError(f"session {session_id} is {session.state.value}: a generation is made of a complete session "
                            f"(follow it with `build-swarm status --session {session_id}`)")
        return session

    def _snapshot(self, session: SessionInfo) -> tuple[str, Snapshot | None]:
        """The main tree the session was resolved from, and its newest snapshot taken before the session (None if none)."""
        repos = json.loads(session.request_json).get("repos") or [""]
        tree = str(repos[0])
        taken = [s for s in self.record.snapshots(tree) if s.taken_at <= session.created_at]
        return tree, max(taken, key=lambda s: s.taken_at) if taken else None

    # ------------------------------------------------------------------------------------- reading

    def views(self, profile: str = "", arch: str = "") -> list[GenerationView]:
        return [self._view(g) for g in self.files.all(profile, arch)]

    def show(self, ref: GenerationRef) -> GenerationView:
        return self._view(self.files.get(ref))

    def served(self, profile: str, arch: str) -> tuple[GenerationView, str]:
        """The generation the profile's clients are served, and the repository name of the tree it serves ("" = none)."""
        number = self.files.published(profile, arch)
        if number is None:
            raise NotFoundError(f"{profile}/{arch} has no published generation yet: sync the profile "
                                f"(`build-swarm profile sync {profile}`) or publish one (`build-swarm binhost publish GEN`)")
        ref = GenerationRef(profile, arch, number)
        return self.show(ref), self.files.tree_repo(ref)

    def diff(self, old: GenerationRef, new: GenerationRef) -> GenerationDiff:
        return diff_generations(self.files.packages(old), self.files.packages(new))

    def _view(self, generation: Generation) -> GenerationView:
        ref = generation.ref
        marks = self.files.marks(ref.profile, ref.arch)
        return GenerationView(generation, self.files.published(ref.profile, ref.arch) == ref.number, ref.number in marks.kept,
                              tuple(marks.tags_of(ref.number)))

    # ------------------------------------------------------------------------------------- publishing and marks

    def publish(self, ref: GenerationRef) -> GenerationView:
        self.files.get(ref)
        self.files.publish(ref)
        self.record.add_event("binhost.published", f"{ref} published: clients of {ref.profile} ({ref.arch}) see it now",
                              None, ref.profile)
        return self.show(ref)

    def rollback(self, profile: str, arch: str) -> GenerationView:
        """Publish the generation published before the current one."""
        current = self.files.published(profile, arch)
        target = rollback_target(current, self.files.marks(profile, arch), (g.ref.number for g in self.files.all(profile, arch)))
        if target is None:
            raise UserError(f"{profile}/{arch} has no earlier published generation to roll back to; "
                            "`build-swarm binhost generations` lists them, `build-swarm binhost publish GEN` publishes one")
        return self.publish(GenerationRef(profile, arch, target))

    def keep(self, ref: GenerationRef, on: bool) -> GenerationView:
        self.files.get(ref)
        self.files.update_marks(ref.profile, ref.arch, lambda m: m.keep(ref.number, on))
        return self.show(ref)

    def tag(self, ref: GenerationRef, name: str, remove: bool = False) -> GenerationView:
        self.files.get(ref)
        try:
            self.files.update_marks(ref.profile, ref.arch, lambda m: m.untag(name) if remove else m.tag(name, ref.number))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return self.show(ref)

    # ------------------------------------------------------------------------------------- retention

    def purge(self, keep_last: int, profile: str = "", arch: str = "", dry_run: bool = False, buckets: bool = False,
              budget: int | None = None) -> Purge:
        """Remove the generations no rule protects (the newest ``keep_last``, tagged, kept, published; with ``buckets``
        the newest of each day, week and month as gbp-purge keeps them) of every profile/arch (or the one named);
        their files go once no other generation and no staging index names them. With ``budget`` (bytes), then the
        oldest generations neither published, kept nor tagged, and superseded staging builds, until the binhost fits."""
        removed: list[str] = []
        kept: dict[str, str] = {}
        before = self.files.disk().used() if budget is not None else 0  # what the retention rules free counts as freed
        for (p, a), created in self._areas(profile, arch).items():
            marks, published, numbers = self.files.marks(p, a), self.files.published(p, a), list(created)
            also = bucketed(created, self.clock.now()) if buckets else {}
            kept |= {f"{p}/{a}/{n}": why for n, why in protected(numbers, marks, published, keep_last, also).items()}
            for number in to_purge(numbers, marks, published, keep_last, also):
                if not dry_run:
                    self.files.remove(GenerationRef(p, a, number))
                removed.append(f"{p}/{a}/{number}")
        if removed and not dry_run:
            self.record.add_event("binhost.purged", f"generations removed: {', '.join(removed)}")
        if budget is None:
            return Purge(tuple(removed), kept, dry_run)
        fitted = BudgetFit(self.files, self.record).run(budget, profile, arch, removed if dry_run else [], dry_run, before)
        kept = {name: why for name, why in kept.items() if name not in fitted.removed}
        return Purge((*removed, *fitted.removed), kept, dry_run, fitted)

    def gc(self, arches: list[str], dry_run: bool = False, upload_age: float = UPLOAD_AGE) -> list[str]:
        """Staging GPKGs no index names, uploads of attempts that never published (untouched for ``upload_age`` s and
        no longer in flight), and leftovers of interrupted generation steps."""
        found = [p for arch in arches for p in self.files.orphans(arch)]
        found += [path for attempt, path in self.files.uploads_older_than(upload_age) if self._never_published(attempt)]
        leftovers = self.files.sweep(dry_run)
        if not dry_run:
            self.files.remove_files(found)
        return [str(p) for p in [*found, *leftovers]]

    def _never_published(self, attempt_id: str) -> bool:
        attempt = self.record.get_attempt(attempt_id)
        return attempt is None or (attempt.state not in IN_FLIGHT and attempt.published_at is None)

    def _areas(self, profile: str, arch: str) -> dict[tuple[str, str], dict[int, float]]:
        """Per profile/arch: each generation's number and when it was made."""
        areas: dict[tuple[str, str], dict[int, float]] = {}
        for generation in self.files.all(profile, arch):
            areas.setdefault((generation.ref.profile, generation.ref.arch), {})[generation.ref.number] = generation.created_at
        return areas


__all__ = ["Budget", "GenerationView", "Generations", "Purge"]
