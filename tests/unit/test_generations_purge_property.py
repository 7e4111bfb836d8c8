"""Property: over any history of builds, generations, publishes, tags, keeps, purges (with and without a disk budget),
running sessions and GC, no file a surviving generation names is lost, purge never removes a generation that is
published, tagged, kept or (without a budget) among the newest, and a budget never removes a file the staging index
names for a CPV of a running session, nor the newest build of a package (category/name and SLOT: lib-1 and lib-2 are
versions of one package, lib-3 is in another SLOT)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.binhost.index import parse_index
from swarm_celery.domain.disk_budget import build_key
from swarm_celery.domain.generations import Generation, GenerationRef, protected
from swarm_celery.services.generations import Generations
from tests.generations_kit import BudgetRecord, FixedClock, served_whole, stage

POOL = ["dev-libs/lib-1", "dev-libs/lib-2", "dev-libs/lib-3", "app-misc/app-1", "app-misc/tool-1", "sys-libs/base-1"]
SLOTS = {"dev-libs/lib-3": "3"}


OPS = st.one_of(
    st.tuples(st.just("build"), st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("gen"), st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True)),
    st.tuples(st.sampled_from(["publish", "tag", "keep", "release"]), st.integers(0, 6)),
    st.tuples(st.just("purge"), st.integers(0, 3)),
    st.tuples(st.just("budget"), st.tuples(st.integers(0, 3), st.floats(0.0, 1.2))),
    st.tuples(st.just("run"), st.lists(st.sampled_from(POOL), max_size=3, unique=True)),
    st.tuples(st.just("gc"), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=1, max_size=14))
def test_no_history_loses_a_file_a_generation_names(ops: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        binhost = Path(tmp) / "binhost"
        files, record = GenerationFiles(binhost), BudgetRecord()
        service = Generations(files, record, FixedClock())  # type: ignore[arg-type]
        latest: dict[str, str] = stage(binhost, POOL[:3], attempt="seed", slots=SLOTS)
        record.builds = {path: (build_key(cpv, True), -1.0) for cpv, path in latest.items()}
        for step, (op, arg) in enumerate(ops):
            latest |= _apply(service, files, binhost, op, arg, step, latest, record)
            _check(files, binhost)


def _apply(service: Generations, files: GenerationFiles, binhost: Path, op: str, arg: Any, step: int,
           latest: dict[str, str], record: BudgetRecord) -> dict[str, str]:
    numbers = [g.ref.number for g in files.all("desk", "amd64")]
    ref = GenerationRef("desk", "amd64", numbers[arg % len(numbers)]) if numbers and isinstance(arg, int) else None
    if op == "build":
        return _build(binhost, arg, step, record)
    if op == "gen":
        return _generation(files, binhost, arg, step, latest, record)
    if op == "run":
        record.running = frozenset(arg)
    elif op == "budget":
        _budget(service, files, binhost, record, *arg)
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


def _build(binhost: Path, cpvs: list[str], step: int, record: BudgetRecord) -> dict[str, str]:
    built = stage(binhost, cpvs, attempt=f"s{step}", slots=SLOTS) if cpvs else {}
    record.builds |= {path: (build_key(cpv, True), float(step)) for cpv, path in built.items()}
    return built


def _generation(files: GenerationFiles, binhost: Path, cpvs: list[str], step: int, latest: dict[str, str],
                record: BudgetRecord) -> dict[str, str]:
    """A session's generation of ``cpvs``: it builds again first what the budget pruned (the planner finds no file of
    it in staging), then links the newest build of each."""
    latest = latest | _build(binhost, [c for c in cpvs if c in latest and not (binhost / "amd64" / latest[c]).is_file()],
                             step, record)
    if any(c in latest for c in cpvs):
        files.create("desk", "amd64", sorted(latest[c] for c in cpvs if c in latest), Generation(GenerationRef("desk", "amd64", 1), 0.0))
    return latest


def _budget(service: Generations, files: GenerationFiles, binhost: Path, record: BudgetRecord, keep_last: int, share: float) -> None:
    """A purge with a budget of ``share`` of what is used: it takes no published, kept or tagged generation, no staging
    file named for a running session, and what it says it used afterwards is what the disk holds."""
    numbers = [g.ref.number for g in files.all("desk", "amd64")]
    safe = set(protected(numbers, files.marks("desk", "amd64"), files.published("desk", "amd64"), 0))
    index = binhost / "amd64" / "Packages"
    entries = parse_index(index.read_text())[1]
    busy = {e.path for e in entries if e.cpv in record.running}
    newest: dict[tuple[str, str], tuple[float, str]] = {}  # per package (category/name, SLOT): its newest build
    for e in entries:
        key = (e.cpv.rsplit("-", 1)[0], e.slot.split("/")[0])
        newest[key] = max(newest.get(key, (float("-inf"), "")), (record.builds[e.path][1], e.path))
    done = service.purge(keep_last, budget=int(files.disk().used() * share))
    assert done.budget is not None and safe <= {g.ref.number for g in files.all("desk", "amd64")}
    kept = busy | {path for _, path in newest.values()}
    assert kept <= {e.path for e in parse_index(index.read_text())[1]}
    assert all((binhost / "amd64" / path).is_file() for path in kept)
    assert done.budget.used_after == files.disk().used() and (done.budget.problem == "") == (done.budget.used_after <= done.budget.budget)


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
