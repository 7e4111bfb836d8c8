"""Binhost generations: what one is, which to keep, where a rollback goes, how two differ (pure).

A *generation* is an immutable set of binary packages of one build profile and arch, with its
``Packages`` index and the tree snapshot its session was resolved from; clients read the one that
is *published*. It is named ``PROFILE/ARCH/N`` (N counts up from 1 per profile and arch). What
changes about a generation after it was made lives beside it in :class:`Marks`: its tags, whether
it is kept, and the order generations were published in (what ``rollback`` walks back).
The files are ``binhost.generations``; the use cases ``services.generations``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from swarm_celery.domain.identity import cp_of, version_of
from swarm_celery.domain.profiles import NAME as PROFILE_NAME

TAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ARCH_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_BINDING = re.compile(r"(?<![\w+.-])([A-Za-z0-9_][\w+.-]*/[A-Za-z0-9_][\w+.-]*?)(?:-[0-9][^\s:\[\]]*)?:([^\s\[\]=]+)=")


@dataclass(frozen=True, order=True)
class GenerationRef:
    profile: str
    arch: str
    number: int

    def __str__(self) -> str:
        return f"{self.profile}/{self.arch}/{self.number}"

    @classmethod
    def parse(cls, text: str) -> GenerationRef:
        """``desktop/amd64/3``; ValueError naming the expected form otherwise."""
        parts = text.strip().split("/")
        if len(parts) != 3 or not PROFILE_NAME.match(parts[0]) or not ARCH_NAME.fullmatch(parts[1]) \
                or not parts[2].isdigit() or not 0 < int(parts[2]) < 10**9:
            raise ValueError(f"{text[:80]!r} names no generation: write PROFILE/ARCH/N, e.g. desktop/amd64/3 "
                             "(`build-swarm binhost generations` lists them)")
        return cls(parts[0], parts[1], int(parts[2]))


@dataclass(frozen=True)
class Generation:
    ref: GenerationRef
    created_at: float
    session: str = ""  # the session whose world it is ("" = made by hand from the staging tree)
    snapshot: str = ""  # the tree snapshot the session was resolved from ("" = none was taken)
    tree: str = ""  # the tree that snapshot is of
    packages: int = 0
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {"generation": str(self.ref), "profile": self.ref.profile, "arch": self.ref.arch, "number": self.ref.number,
                "created_at": self.created_at, "session": self.session, "snapshot": self.snapshot, "tree": self.tree,
                "packages": self.packages, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Generation:
        ref = GenerationRef.parse(str(data["generation"]))
        return cls(ref, float(str(data.get("created_at", 0))), str(data.get("session", "")), str(data.get("snapshot", "")),
                   str(data.get("tree", "")), int(str(data.get("packages", 0))), str(data.get("note", "")))


@dataclass(frozen=True)
class Marks:
    """What is said about a profile/arch's generations after they were made."""

    tags: Mapping[str, int] = field(default_factory=dict)  # tag → generation number (a tag names one generation)
    kept: frozenset[int] = frozenset()
    history: tuple[int, ...] = ()  # published, oldest first

    def tag(self, name: str, number: int) -> Marks:
        if not TAG_NAME.fullmatch(name):
            raise ValueError(f"tag {name[:80]!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        return replace(self, tags={**self.tags, name: number})

    def untag(self, name: str) -> Marks:
        return replace(self, tags={k: v for k, v in self.tags.items() if k != name})

    def keep(self, number: int, on: bool) -> Marks:
        return replace(self, kept=self.kept | {number} if on else self.kept - {number})

    def published(self, number: int) -> Marks:
        return replace(self, history=(*self.history, number)[-100:])

    def tags_of(self, number: int) -> list[str]:
        return sorted(k for k, v in self.tags.items() if v == number)

    def to_json(self) -> dict[str, object]:
        return {"tags": dict(sorted(self.tags.items())), "kept": sorted(self.kept), "history": list(self.history)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Marks:
        tags, kept, history = data.get("tags", {}), data.get("kept", []), data.get("history", [])
        return cls({str(k): int(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
                   frozenset(int(n) for n in kept) if isinstance(kept, list) else frozenset(),
                   tuple(int(n) for n in history) if isinstance(history, list) else ())


def rollback_target(current: int | None, marks: Marks, existing: Iterable[int]) -> int | None:
    """The generation published before ``current`` that still exists (None: there is nothing to go back to)."""
    present = set(existing)
    history = list(marks.history)
    if current in history:
        history = history[: len(history) - 1 - history[::-1].index(current)]
    return next((n for n in reversed(history) if n != current and n in present), None)


BUCKETS = ((86400.0, 7, "day"), (7 * 86400.0, 4, "week"), (30 * 86400.0, 12, "month"))  # gbp-purge's age buckets


def bucketed(created: Mapping[int, float], now: float) -> dict[int, str]:
    """Age buckets as gbp-purge keeps them: the newest generation of each of the last 7 days, of each of the last 4
    weeks and of each of the last 12 months (``created``: generation → when it was made)."""
    why: dict[int, str] = {}
    for span, count, unit in BUCKETS:
        for age in range(count):
            inside = [(at, n) for n, at in created.items() if now - (age + 1) * span < at <= now - age * span]
            if inside:
                why.setdefault(max(inside)[1], f"the newest of its {unit}")
    return why


def protected(numbers: Iterable[int], marks: Marks, published: int | None, keep_last: int,
              also: Mapping[int, str] | None = None) -> dict[int, str]:
    """Why each protected generation stays: published, kept, tagged, one of the newest ``keep_last``, or ``also``
    (an age bucket's)."""
    why: dict[int, str] = dict(also or {})
    ordered = sorted(set(numbers), reverse=True)
    for n in ordered[: max(0, keep_last)]:
        why[n] = f"one of the newest {keep_last}"
    for name, n in marks.tags.items():
        why[n] = f"tagged {name}"
    for n in marks.kept:
        why[n] = "kept"
    if published is not None:
        why[published] = "published"
    return {n: reason for n, reason in why.items() if n in ordered}


def to_purge(numbers: Iterable[int], marks: Marks, published: int | None, keep_last: int,
             also: Mapping[int, str] | None = None) -> list[int]:
    """The generations no rule protects, oldest first."""
    keep = protected(numbers, marks, published, keep_last, also)
    return sorted(n for n in set(numbers) if n not in keep)


# ----------------------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class GenPackage:
    """One package of a generation, as its index describes it."""

    cpv: str
    slot: str
    use: tuple[str, ...] = ()
    deps: str = ""  # DEPEND and RDEPEND: where portage wrote the ``:=`` bindings it built against

    @property
    def key(self) -> str:
        return f"{cp_of(self.cpv)}:{self.slot.split('/')[0] or '0'}"

    def bindings(self) -> frozenset[str]:
        return frozenset(f"{cp}:{slot}" for cp, slot in _BINDING.findall(self.deps))


@dataclass(frozen=True)
class Change:
    key: str
    old: str  # cpv
    new: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GenerationDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[Change, ...]
    same: int


def diff_generations(old: Sequence[GenPackage], new: Sequence[GenPackage]) -> GenerationDiff:
    """What a client moving from ``old`` to ``new`` gets: packages added, removed, and changed with why
    (version, USE, sub-slot binding). A package is matched by ``category/package:SLOT``."""
    before, after = {p.key: p for p in old}, {p.key: p for p in new}
    changed: list[Change] = []
    for key in sorted(before.keys() & after.keys()):
        reasons = _reasons(before[key], after[key])
        if reasons:
            changed.append(Change(key, before[key].cpv, after[key].cpv, reasons))
    return GenerationDiff(tuple(sorted(after[k].cpv for k in after.keys() - before.keys())),
                          tuple(sorted(before[k].cpv for k in before.keys() - after.keys())),
                          tuple(changed), len(before.keys() & after.keys()) - len(changed))


def _reasons(old: GenPackage, new: GenPackage) -> tuple[str, ...]:
    reasons = []
    if old.cpv != new.cpv:
        reasons.append(f"version {version_of(old.cpv)} → {version_of(new.cpv)}")
    if old.slot != new.slot:
        reasons.append(f"SLOT {old.slot} → {new.slot}")
    added, dropped = sorted(set(new.use) - set(old.use)), sorted(set(old.use) - set(new.use))
    if added or dropped:
        reasons.append("USE " + " ".join([*(f"+{f}" for f in added), *(f"-{f}" for f in dropped)]))
    bound = sorted(new.bindings() - old.bindings())
    if bound:
        reasons.append("sub-slot binding " + ", ".join(bound))
    return tuple(reasons)


__all__ = ["BUCKETS", "Change", "GenPackage", "Generation", "GenerationDiff", "GenerationRef", "Marks", "bucketed", "diff_generations", "protected",
           "rollback_target", "to_purge"]
