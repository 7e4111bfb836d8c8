"""CPV strings (``category/package-version``) split the way portage's ``catpkgsplit`` does.

Pure re-implementation of PMS version syntax, so the coordinator, the binhost and
drones can name files without importing portage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"-(?P<ver>\d+(?:\.\d+)*[a-z]?(?:_(?:alpha|beta|pre|rc|p)\d*)*)(?:-r(?P<rev>\d+))?$"
)


@dataclass(frozen=True, slots=True)
class Cpv:
    category: str
    package: str  # PN
    version: str  # PV
    revision: str  # "r1" or ""

    @property
    def pf(self) -> str:
        return f"{self.package}-{self.version}" + (f"-{self.revision}" if self.revision else "")

    def __str__(self) -> str:
        return f"{self.category}/{self.pf}"


def split_cpv(cpv: str) -> Cpv:
    """``sys-libs/zlib-1.3.1-r1`` → Cpv("sys-libs", "zlib", "1.3.1", "r1"); ValueError if malformed."""
    category, sep, pf = cpv.partition("/")
    match = _VERSION.search(pf)
    if not sep or not category or match is None or match.start() == 0:
        raise ValueError(f"not a category/package-version string: {cpv!r}")
    revision = match.group("rev")
    return Cpv(category, pf[: match.start()], match.group("ver"), f"r{revision}" if revision else "")
