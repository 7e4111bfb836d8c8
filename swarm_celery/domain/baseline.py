"""An explicit baseline: the packages a fleet's drones really have installed, instead of a pristine stage3.

Two formats, told apart by the first non-blank character (``[`` is JSON):

* text, one installed package per line, as ``qlist -IRv`` prints it (``qlist -ISRv`` / ``-ISSRv`` add the
  slot), optionally followed by the enabled USE flags the way ``/var/db/pkg/<cpv>/USE`` holds them::

      # comments and blank lines are ignored
      sys-libs/zlib-1.3.1-r1::gentoo
      dev-lang/python-3.12.8_p1:3.12/3.12::gentoo USE="ssl sqlite readline -tk"

* JSON, a list of objects: ``[{"cpv": "sys-libs/zlib-1.3.1-r1", "slot": "0/1", "repo": "gentoo", "use": ["minizip"]}]``.

Only ``cpv`` is required. Without a repository, the highest-priority repository holding the ebuild is used;
without a slot, the ebuild's; without USE, what the profile and package.use give the ebuild. A ``-flag``
in USE is accepted and means "disabled" (it is not recorded). Pure parsing: repositories are checked by
:mod:`swarm_celery.resolve.inputs`, the ebuilds by the resolver.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv

_LINE = re.compile(r'^(?P<cpv>[^\s:]+)(?::(?P<slot>[^\s:]+))?(?:::(?P<repo>[^\s:]+))?(?:\s+USE="(?P<use>[^"]*)")?$')
_SLOT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9+_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9+_.-]*)?$")
_REPO = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_FLAG = re.compile(r"^-?[A-Za-z0-9][A-Za-z0-9+_@.-]*$")
_TEXT_FIX = 'write one installed package per line as `qlist -IRv` prints it: category/package-version[:slot][::repo] [USE="flags"]'
_JSON_FIX = 'write a JSON list of {"cpv": ..., "slot": ..., "repo": ..., "use": [...]} objects (only cpv is required)'


@dataclass(frozen=True, slots=True)
class InstalledPackage:
    cpv: str
    slot: str = ""  # "" = the ebuild's SLOT
    repo: str = ""  # "" = the highest-priority repository holding the ebuild
    use: tuple[str, ...] | None = None  # enabled flags; None = the ebuild's USE under the profile and package.use

    def to_json(self) -> dict[str, object]:
        return {"cpv": self.cpv, "slot": self.slot, "repo": self.repo, "use": None if self.use is None else list(self.use)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> InstalledPackage:
        use = data.get("use")
        return cls(cpv=str(data["cpv"]), slot=str(data.get("slot") or ""), repo=str(data.get("repo") or ""),
                   use=tuple(str(f) for f in use) if isinstance(use, list) else None)


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    """A parsed package and where it was written: "line 3" (text) or "entry #3" (JSON)."""

    where: str
    package: InstalledPackage


def parse_baseline(text: str) -> tuple[BaselineEntry, ...]:
    """The packages of a baseline file; ValueError("line N: what is wrong; what to write") otherwise."""
    entries = parse_json(text) if text.lstrip().startswith("[") else parse_text(text)
    if not entries:
        raise ValueError("it lists no installed package; " + _TEXT_FIX)
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.package.cpv in seen:
            raise ValueError(f"{entry.where}: {entry.package.cpv} is listed twice (first at {seen[entry.package.cpv]}); keep one")
        seen[entry.package.cpv] = entry.where
    return entries


def parse_text(text: str) -> tuple[BaselineEntry, ...]:
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"line {number}: cannot read {line!r}; {_TEXT_FIX}")
        use = match.group("use")
        entries.append(BaselineEntry(f"line {number}", checked(f"line {number}", match.group("cpv"), match.group("slot") or "",
                                                     match.group("repo") or "", use.split() if use is not None else None)))
    return tuple(entries)


def parse_json(text: str) -> tuple[BaselineEntry, ...]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: not JSON ({exc.msg}); {_JSON_FIX}") from None
    if not isinstance(data, list):
        raise ValueError(f"line 1: not a JSON list; {_JSON_FIX}")
    entries = []
    for index, item in enumerate(data, start=1):
        where = f"entry #{index}"
        if not isinstance(item, dict) or not isinstance(item.get("cpv"), str):
            raise ValueError(f"{where}: no \"cpv\" string; {_JSON_FIX}")
        use = item.get("use")
        if use is not None and not (isinstance(use, list) and all(isinstance(f, str) for f in use)):
            raise ValueError(f"{where}: \"use\" must be a list of flag names; {_JSON_FIX}")
        if not all(isinstance(item.get(key, ""), str) for key in ("slot", "repo")):
            raise ValueError(f"{where}: \"slot\" and \"repo\" must be strings; {_JSON_FIX}")
        entries.append(BaselineEntry(where, checked(where, item["cpv"], item.get("slot", ""), item.get("repo", ""), use)))
    return tuple(entries)


def checked(where: str, cpv: str, slot: str, repo: str, use: list[str] | None) -> InstalledPackage:
    """One package, its fields validated; ValueError naming ``where`` and the fix otherwise."""
    try:
        split_cpv(cpv)
    except ValueError:
        raise ValueError(f"{where}: {cpv!r} is not category/package-version (e.g. sys-libs/zlib-1.3.1-r1)") from None
    if slot and not _SLOT.match(slot):
        raise ValueError(f"{where}: {slot!r} is not a SLOT (e.g. 0 or 3.12/3.12)")
    if repo and not _REPO.match(repo):
        raise ValueError(f"{where}: {repo!r} is not a repository name (e.g. gentoo)")
    bad = [f for f in use or () if not _FLAG.match(f)]
    if bad:
        raise ValueError(f"{where}: {bad[0]!r} is not a USE flag; list the enabled flags separated by spaces")
    enabled = None if use is None else tuple(sorted({f for f in use if not f.startswith("-")}))
    return InstalledPackage(cpv=cpv, slot=slot, repo=repo, use=enabled)
