"""Property: over any history of builds, generations, publishes, tags, keeps, purges and GC, no file a surviving
generation names is lost, and purge never removes a generation that is published, tagged, kept or among the newest."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.index import parse_index
from swarm_celery.domain.generations import Generation, GenerationRef, protected
from swarm_celery.services.generations import Generations
from tests.generations_kit import served_whole, stage

POOL = ["dev-libs/lib-1", "dev-libs/lib-2", "app-misc/app-1", "app-misc/tool-1", "sys-libs/base-1"]


class Record:
    def add_event(self, kind: str, message: str, session_id: str | None = None, subject: str = "") -> None: ...


class Clock:
    def now(self) -> float:
        return 1000.0


OPS = st.one_of(
    st.tuples(st.just("build"), st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("gen"), st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True)),
    st.tuples(st.sampled_from(["publish", "tag", "keep", "release"]), st.integers(0, 6)),
    st.tuples(st.just("purge"), st.integers(0, 3)),
    st.tuples(st.just("gc"), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=14))
def test_no_history_loses_a_file_a_generation_names(ops: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        binhost = Path(tmp) / "binhost"
        files = GenerationFiles(binhost)
        service = Generations(files, Record(), Clock())  # type: ignore[arg-type]
        latest: dict[str, str] = stage(binhost, POOL[:2], attempt="seed")
        for step, (op, arg) in enumerate(ops):
            latest |= _apply(service, files, binhost, op, arg, step, latest)
            _check(files, binhost)


def _apply(service: Generations, files: GenerationFiles, binhost: Path, op: str, arg: Any, step: int,
           latest: dict[str, str]) -> dict[str, str]:
    numbers = [g.ref.number for g in files.all("desk", "amd64")]
    ref = GenerationRef("desk", "amd64", numbers[arg % len(numbers)]) if numbers and isinstance(arg, int) else None
    if op == "build":
        return stage(binhost, arg, attempt=f"s{step}")
    if op == "gen" and any(c in latest for c in arg):
        files.create("desk", "amd64", sorted(latest[c] for c in arg if c in latest), Generation(GenerationRef("desk", "amd64", 1), 0.0))
    elif op == "publish" and ref:
        service.publish(ref)
    elif op == "tag" and ref:
        service.tag(ref, f"t{arg}")
    elif op in ("keep", "release") and ref:
        service.keep(ref, op == "keep")
    elif op == "purge":
        marks, published = files.marks("desk", "amd64"), files.published("desk", "amd64")
        safe = set(protected(numbers, marks, published, arg))
        service.purge(arg)
        assert safe <= {g.ref.number for g in files.all("desk", "amd64")}
    elif op == "gc":
        service.gc(["amd64"])
    return {}


def _check(files: GenerationFiles, binhost: Path) -> None:
    """Every surviving generation, and the staging index, name only files that are there, whole."""
    for generation in files.all("desk", "amd64"):
        area = files.area("desk", "amd64") / str(generation.ref.number)
        for entry in parse_index((area / "Packages").read_text())[1]:
            assert (area / entry.path).stat().st_size == entry.size
    if files.published("desk", "amd64") is not None:
        served_whole(files.area("desk", "amd64"))
    staging = binhost / "amd64" / "Packages"
    for entry in parse_index(staging.read_text())[1]:
        assert (binhost / "amd64" / entry.path).is_file()
