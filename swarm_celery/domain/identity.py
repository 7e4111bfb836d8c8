"""Binary-package identity and the diff of two plans by identity.

A planned package's *identity* names the binary package it builds: a sha256 of the
canonical JSON of its CPV, repository, own SLOT/sub-slot, arch, profile, enabled USE
(sorted) and the SLOT/sub-slot of every dependency it binds with a ``:=`` slot
operator (sorted ``cat/pkg:slot/subslot``). The version or identity of such a
dependency is deliberately not part of it: rebuilding a dependency with the same
sub-slot leaves its dependents' identities alone. Nothing else of the plan goes in,
so packages nobody depends on do not move anyone else's identity.

Packages are matched across two plans by their *key*, ``category/package:SLOT``
(the CPV minus its version, plus the SLOT), so a version bump is a change, not a
removal and an addition. Pure standard library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv
from swarm_celery.domain.model import Plan, PlannedPackage

IDENTITY_VERSION = 1  # bump when the hash input changes: every identity changes with it


def cp_of(cpv: str) -> str:
    """``dev-libs/foo-1.2-r1`` → ``dev-libs/foo`` (ValueError if it is no CPV)."""
    parts = split_cpv(cpv)
    return f"{parts.category}/{parts.package}"


def version_of(cpv: str) -> str:
    """``dev-libs/foo-1.2-r1`` → ``1.2-r1``."""
    return cpv[len(cp_of(cpv)) + 1:]


def slot_binding(cp: str, slot: str, sub_slot: str) -> str:
    """How a ``:=`` dependency's binding is written: ``dev-libs/foo:0/1.2``."""
    return f"{cp}:{slot}/{sub_slot or slot}"


def package_key(cpv: str, slot: str) -> str:
    """What identities are matched by across plans: ``dev-libs/foo:0``."""
    return f"{cp_of(cpv)}:{slot}"


def package_identity(*, cpv: str, repo: str, slot: str, sub_slot: str, arch: str, gentoo_profile: str,
                     use: Iterable[str], slot_deps: Iterable[str]) -> str:
    """The sha256 (hex) of the canonical JSON of everything the binary package depends on."""
    canonical = {
        "v": IDENTITY_VERSION, "cpv": cpv, "repo": repo, "slot": f"{slot}/{sub_slot or slot}", "arch": arch,
        "profile": gentoo_profile, "use": sorted(set(use)), "slot_deps": sorted(set(slot_deps)),
    }  # the keys are part of every identity: renaming one would rebuild every published package
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(blob).hexdigest()


def identity_of(pkg: PlannedPackage, arch: str, gentoo_profile: str) -> str:
    return package_identity(cpv=pkg.cpv, repo=pkg.repo, slot=pkg.slot, sub_slot=pkg.sub_slot, arch=arch, gentoo_profile=gentoo_profile,
                            use=pkg.use, slot_deps=pkg.slot_deps)


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason an identity changed. kind: version, repo, sub_slot, use, slot_dep, arch, gentoo_profile, unknown."""

    kind: str
    old: str = ""
    new: str = ""
    subject: str = ""  # the dependency (``cat/pkg:slot``) for slot_dep; the flag for use

    @property
    def text(self) -> str:
        if self.kind == "use":
            return f"USE {'+' if self.new == 'enabled' else '-'}{self.subject}"
        if self.kind == "slot_dep":
            if not self.old:
                return f"new := dependency {self.subject} (sub-slot {self.new})"
            if not self.new:
                return f"no longer binds := to {self.subject} (was sub-slot {self.old})"
            return f"sub-slot of dependency {self.subject}: {self.old} → {self.new}"
        if self.kind == "unknown":
            return "identity inputs differ in a way this version does not record (identity scheme changed?)"
        label = {"version": "version", "repo": "repository", "sub_slot": "own sub-slot", "gentoo_profile": "Gentoo profile"}.get(self.kind, self.kind)
        return f"{label} {self.old} → {self.new}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "old": self.old, "new": self.new, "subject": self.subject, "text": self.text}


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    old: PlannedPackage
    new: PlannedPackage
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PlanDiff:
    new: tuple[PlannedPackage, ...]
    gone: tuple[PlannedPackage, ...]
    changed: tuple[Change, ...]
    unchanged: int

    def to_json(self) -> dict[str, object]:
        def entry(pkg: PlannedPackage) -> dict[str, str]:
            return {"key": package_key(pkg.cpv, pkg.slot), "cpv": pkg.cpv, "identity": pkg.identity}

        return {
            "new": [entry(p) for p in self.new],
            "gone": [entry(p) for p in self.gone],
            "changed": [{"key": c.key, "old_cpv": c.old.cpv, "new_cpv": c.new.cpv, "old_identity": c.old.identity,
                         "new_identity": c.new.identity, "reasons": [r.to_json() for r in c.reasons]} for c in self.changed],
            "unchanged": self.unchanged,
        }


def _bindings(pkg: PlannedPackage) -> dict[str, str]:
    """``cat/pkg:slot`` → sub-slot of each ``:=`` binding."""
    pairs = (b.rpartition("/") for b in pkg.slot_deps)
    return {head: sub for head, _, sub in pairs}


def _use_reasons(old: PlannedPackage, new: PlannedPackage) -> list[Reason]:
    before, after = set(old.use), set(new.use)
    return [Reason("use", "disabled", "enabled", f) for f in sorted(after - before)] + \
           [Reason("use", "enabled", "disabled", f) for f in sorted(before - after)]


def _slot_dep_reasons(old: PlannedPackage, new: PlannedPackage) -> list[Reason]:
    before, after = _bindings(old), _bindings(new)
    return [Reason("slot_dep", before.get(dep, ""), after.get(dep, ""), dep)
            for dep in sorted(before.keys() | after.keys()) if before.get(dep) != after.get(dep)]


def change_reasons(old: PlannedPackage, new: PlannedPackage, old_plan: Plan, new_plan: Plan) -> tuple[Reason, ...]:
    """Why ``old`` and ``new`` (same key) differ in identity: version, USE, sub-slot of a dependency, ..."""
    reasons: list[Reason] = []
    pairs = [("version", version_of(old.cpv), version_of(new.cpv)), ("repo", old.repo, new.repo),
             ("sub_slot", old.sub_slot, new.sub_slot), ("arch", old_plan.arch, new_plan.arch),
             ("gentoo_profile", old_plan.gentoo_profile, new_plan.gentoo_profile)]
    reasons += [Reason(kind, before, after) for kind, before, after in pairs if before != after]
    reasons += _use_reasons(old, new) + _slot_dep_reasons(old, new)
    return tuple(reasons) or (Reason("unknown"),)


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """Which identities are new, gone or changed (with why) between two plans; keyed by ``cat/pkg:slot``."""
    before = {package_key(p.cpv, p.slot): p for p in old.packages}
    after = {package_key(p.cpv, p.slot): p for p in new.packages}
    changed = tuple(
        Change(key, before[key], after[key], change_reasons(before[key], after[key], old, new))
        for key in sorted(before.keys() & after.keys()) if before[key].identity != after[key].identity
    )
    return PlanDiff(
        new=tuple(after[k] for k in sorted(after.keys() - before.keys())),
        gone=tuple(before[k] for k in sorted(before.keys() - after.keys())),
        changed=changed,
        unchanged=len(before.keys() & after.keys()) - len(changed),
    )
