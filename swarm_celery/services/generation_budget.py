"""The disk budget of ``binhost purge``: after the retention rules, what else goes until the binhost fits.

Generations hard-link the staging tree, so removing one frees only what neither staging nor another
generation names. Fitting a budget therefore takes two kinds of step, cheapest first: superseded staging
builds (domain.disk_budget.superseded: an older build of a package staging holds a newer build of, named
by no generation that stays, of no CPV a running session plans), then the oldest generation that is
neither published, kept nor tagged, and again. Disk use counts each inode once (domain.disk_budget.DiskMap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm_celery.domain.disk_budget import DiskMap, StagedBuild, format_size, superseded
from swarm_celery.domain.generations import GenerationRef, protected
from swarm_celery.ports.generations import GenerationFiles, GenerationRecord


@dataclass(frozen=True)
class Budget:
    budget: int  # bytes
    used_before: int  # bytes on disk below the binhost before purging (each inode once)
    used_after: int  # after (with --dry-run: what it would be)
    removed: tuple[str, ...] = ()  # generations the budget took (beyond the retention rules)
    pruned: tuple[str, ...] = ()  # staging builds dropped: ARCH/cat/pn/<PF>-<N>.gpkg.tar
    problem: str = ""  # why the budget cannot be met and what to do ("" = it is met)

    @property
    def freed(self) -> int:
        return max(0, self.used_before - self.used_after)

    def to_json(self) -> dict[str, object]:
        return {"budget": self.budget, "used_before": self.used_before, "used_after": self.used_after, "freed": self.freed,
                "met": not self.problem, "removed": list(self.removed), "pruned": list(self.pruned), "problem": self.problem}


@dataclass
class _Plan:
    gone: set[str]  # generations counted as gone
    removed: list[str] = field(default_factory=list)
    pruned: set[tuple[str, str]] = field(default_factory=set)
    used: int = 0


class BudgetFit:
    def __init__(self, files: GenerationFiles, record: GenerationRecord) -> None:
        self.files = files
        self.record = record

    def run(self, budget: int, profile: str, arch: str, gone: list[str], dry_run: bool, before: int | None = None) -> Budget:
        """Fit the binhost into ``budget`` bytes; ``gone``: generations the retention rules remove (not yet removed on a
        dry run); ``before``: the bytes used before those rules ran (default: now). Only the generations of
        ``profile``/``arch`` (when given) and that arch's staging are touched."""
        disk = self.files.disk()
        arches = [arch] if arch else sorted({a for a, _ in disk.staged})
        facts = {a: self._builds(a) for a in arches}
        plan = self._plan(disk, budget, self._candidates(profile, arch, set(gone)), facts, set(gone))
        if not dry_run:
            self._apply(disk, plan, facts)
            plan.used = self.files.disk().used()
        problem = "" if plan.used <= budget else self._problem(budget, plan.used, dry_run)
        return Budget(budget, disk.used() if before is None else before, plan.used, tuple(plan.removed),
                      tuple(f"{a}/{p}" for a, p in sorted(plan.pruned)), problem)

    def _plan(self, disk: DiskMap, budget: int, candidates: list[str],
              facts: dict[str, tuple[list[StagedBuild], frozenset[str]]], gone: set[str]) -> _Plan:
        plan = _Plan(gone)
        while True:
            plan.pruned = set()
            plan.used = disk.used(plan.gone)
            if plan.used <= budget:
                return plan
            plan.pruned = self._prunable(disk, facts, plan.gone)
            plan.used = disk.used(plan.gone, plan.pruned)
            if plan.used <= budget or not candidates:
                return plan
            name = candidates.pop(0)
            plan.gone.add(name)
            plan.removed.append(name)

    def _apply(self, disk: DiskMap, plan: _Plan, facts: dict[str, tuple[list[StagedBuild], frozenset[str]]]) -> None:
        failed = []
        for name in plan.removed:
            try:
                self.files.remove(GenerationRef.parse(name))
            except (ValueError, OSError):  # published or taken meanwhile: it stays, and so does what it names
                failed.append(name)
        if failed:
            plan.removed = [n for n in plan.removed if n not in failed]
            plan.gone -= set(failed)
            plan.pruned = self._prunable(disk, facts, plan.gone) if plan.pruned else set()
        for arch in sorted({a for a, _ in plan.pruned}):
            self.files.prune_staging(arch, sorted(p for a, p in plan.pruned if a == arch))
        if plan.removed or plan.pruned:
            self.record.add_event("binhost.budget", f"to fit the disk budget: generations removed: {', '.join(plan.removed) or '-'}; "
                                  f"{len(plan.pruned)} superseded staging builds removed")

    def _candidates(self, profile: str, arch: str, gone: set[str]) -> list[str]:
        """The generations the budget may take, oldest first: neither published, kept nor tagged."""
        found = []
        for generation in self.files.all(profile, arch):
            ref = generation.ref
            safe = protected([ref.number], self.files.marks(ref.profile, ref.arch), self.files.published(ref.profile, ref.arch), 0)
            if str(ref) not in gone and ref.number not in safe:
                found.append((generation.created_at, ref))
        return [str(ref) for _, ref in sorted(found)]

    def _builds(self, arch: str) -> tuple[list[StagedBuild], frozenset[str]]:
        """The arch's staging builds as the record knows them, and the CPVs its running sessions plan."""
        known = self.record.staged_builds(arch)
        builds = [StagedBuild(path, cpv, *known.get(path, ("", 0.0)), slot=slot) for path, cpv, slot in self.files.staged(arch)]
        return builds, self.record.running_cpvs(arch)

    @staticmethod
    def _prunable(disk: DiskMap, facts: dict[str, tuple[list[StagedBuild], frozenset[str]]],
                  gone: set[str]) -> set[tuple[str, str]]:
        """(arch, path) of the staging builds that may go while the generations not in ``gone`` stay."""
        named = disk.named_by(g for g in disk.generations if g not in gone)
        found: set[tuple[str, str]] = set()
        for arch, (builds, running) in facts.items():
            linked = {path for (a, path), inode in disk.staged.items() if a == arch and inode in named}
            found |= {(arch, path) for path in superseded(builds, linked, running)}
        return found

    @staticmethod
    def _problem(budget: int, used: int, dry_run: bool) -> str:
        return (f"the budget of {format_size(budget)} cannot be met: {format_size(used)} {'would stay' if dry_run else 'stay'}, "
                "all of it published, kept or tagged generations, the newest staging build of each package, builds of "
                "running sessions, indexes and tree zips; raise the budget, release or untag generations (`build-swarm "
                "binhost release GEN`, `build-swarm binhost tag GEN NAME --remove`), or run `build-swarm binhost gc`")


__all__ = ["Budget", "BudgetFit"]
