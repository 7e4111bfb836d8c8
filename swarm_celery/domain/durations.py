"""Expected build times per package (``category/package`` → seconds) from a durations CSV.

The default table ships in ``swarm_celery/data/build-durations.csv``: median real
build times of 1,250 packages from 2,666 builds in six public emerge.log files
(sources credited in ``data/build-durations-SOURCES.md``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

from swarm_celery.domain.cpv import split_cpv

DEFAULT_SECONDS = 16.0  # the median of the shared real data


@dataclass(frozen=True, slots=True)
class Durations:
    seconds: Mapping[str, float]
    default: float = DEFAULT_SECONDS

    def for_cpv(self, cpv: str) -> float:
        try:
            parts = split_cpv(cpv)
        except ValueError:
            return self.default
        return self.seconds.get(f"{parts.category}/{parts.package}", self.default)


def parse_durations(text: str) -> dict[str, float]:
    """Rows with ``package`` and ``seconds`` columns; raises ValueError naming the bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"package", "seconds"} <= set(reader.fieldnames):
        raise ValueError("a durations CSV needs the columns 'package' and 'seconds'")
    table: dict[str, float] = {}
    for line, row in enumerate(reader, start=2):
        try:
            seconds = float(row["seconds"])
        except (TypeError, ValueError):
            raise ValueError(f"line {line}: seconds {row['seconds']!r} is not a number") from None
        if seconds < 0 or "/" not in (row["package"] or ""):
            raise ValueError(f"line {line}: expected category/package and seconds >= 0")
        table[row["package"]] = seconds
    return table
