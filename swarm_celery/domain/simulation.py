"""A simulation that can be wrong: what a simulated build really takes, and whether it fails on the way.

The durations table is only an estimate. A real fleet's builds take longer or shorter than it
says (``noise``: a log-normal factor per package, ``bias``: a factor on every build the scheduler
is not told about), drones differ in speed, and some builds fail for reasons that have nothing
to do with the package (a fetch that times out) and succeed when retried. Every draw is a pure
function of the seed and the package, so a run is reproducible and two schedulers compared on
one seed face exactly the same world, whatever drone builds what when.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

MAX_NOISE = 3.0  # a log-normal spread beyond this is not a build time any more
MAX_BIAS = 100.0


@dataclass(frozen=True, slots=True)
class Chaos:
    """What a simulated drone does differently from the table (all off by default)."""

    noise: float = 0.0  # spread of the log-normal factor on each package's build time (0.3: typically ±30 %)
    bias: float = 1.0  # every build takes this × the table (unknown to the scheduler)
    transient: float = 0.0  # probability that a package's first try fails as an infrastructure failure
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.noise <= MAX_NOISE:
            raise ValueError(f"duration noise {self.noise} is outside 0..{MAX_NOISE:g}")
        if not 0.0 < self.bias <= MAX_BIAS:
            raise ValueError(f"duration bias {self.bias} must be above 0 and at most {MAX_BIAS:g}")
        if not 0.0 <= self.transient < 1.0:
            raise ValueError(f"transient failure probability {self.transient} is outside 0..1 (1 excluded: a retry must succeed)")

    def factor(self, cpv: str) -> float:
        """How many times the table's time this package really takes (the same on every drone and every try)."""
        if self.noise == 0.0:
            return self.bias
        z = NormalDist().inv_cdf(_uniform(self.seed, "noise", cpv))
        return self.bias * math.exp(self.noise * z)

    def fails_at(self, cpv: str, retry: int) -> float | None:
        """The fraction of its build time after which this try fails (None: it does not fail); only a first try fails."""
        if retry > 0 or self.transient == 0.0 or _uniform(self.seed, "fails", cpv) >= self.transient:
            return None
        return _uniform(self.seed, "when", cpv)


def _uniform(seed: int, what: str, cpv: str) -> float:
    """A number in (0, 1), the same for the same seed, purpose and package."""
    digest = hashlib.sha256(f"{seed}\0{what}\0{cpv}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2.0**64


def parse_speeds(text: str, drones: int) -> tuple[float, ...]:
    """``1,1,2,0.5``: one relative speed per drone (2 builds twice as fast); ValueError saying what is wrong."""
    try:
        speeds = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"drone speeds {text!r}: expected numbers separated by commas, like 1,1,2,0.5") from None
    if len(speeds) != drones:
        raise ValueError(f"drone speeds {text!r} give {len(speeds)} speed(s) for {drones} drone(s): give one per drone")
    if any(not (0.01 <= s <= 100.0) for s in speeds):
        raise ValueError(f"drone speeds {text!r}: each speed must be between 0.01 and 100")
    return speeds


__all__ = ["Chaos", "parse_speeds"]
