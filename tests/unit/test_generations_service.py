"""Making generations when a profile's session completes: the coordinator on a real SQLite store, fake generation files."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from swarm_celery.binhost.generations import GenerationFiles
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.generations import Generation, GenerationRef, GenPackage, Marks
from swarm_celery.errors import UserError
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.services.generations import Generations
from tests.coordinator_kit import PLAN, REQUEST, World, failure, identity, success
from tests.unit.test_profile_sync import with_identities


@dataclass
class FakeFiles:
    made: list[tuple[str, Generation, list[str]]] = field(default_factory=list)
    published_refs: list[GenerationRef] = field(default_factory=list)
    marks_of: Marks = field(default_factory=Marks)

    def create(self, profile: str, arch: str, paths: Sequence[str], made: Generation, tree_archive: Path | None = None) -> Generation:
        generation = replace(made, ref=GenerationRef(profile, arch, len(self.made) + 1), packages=len(paths))
        self.made.append((str(generation.ref), generation, list(paths)))
        return generation

    def publish(self, ref: GenerationRef) -> None:
        self.published_refs.append(ref)
        self.marks_of = self.marks_of.published(ref.number)

    def all(self, profile: str = "", arch: str = "") -> list[Generation]:
        return [g for _, g, _ in self.made]

    def get(self, ref: GenerationRef) -> Generation:
        return next(g for _, g, _ in self.made if g.ref == ref)

    def published(self, profile: str, arch: str) -> int | None:
        return self.published_refs[-1].number if self.published_refs else None

    def marks(self, profile: str, arch: str) -> Marks:
        return self.marks_of

    def update_marks(self, profile: str, arch: str, change: Callable[[Marks], Marks]) -> Marks:
        self.marks_of = change(self.marks_of)
        return self.marks_of

    def packages(self, ref: GenerationRef) -> list[GenPackage]:
        return []

    def files(self, ref: GenerationRef) -> set[str]:
        return set()

    def tree_repo(self, ref: GenerationRef) -> str:
        return ""

    def remove(self, ref: GenerationRef) -> None: ...
    def sweep(self, dry_run: bool = False) -> list[Path]: return []
    def orphans(self, arch: str) -> list[Path]: return []
    def remove_files(self, paths: Sequence[Path]) -> int: return 0
    def uploads_older_than(self, seconds: float) -> list[tuple[str, Path]]: return []


@pytest.fixture
def gens(world: World) -> tuple[Generations, FakeFiles]:
    files = FakeFiles()
    service = Generations(files, world.store, world.clock)
    world.coordinator = Coordinator(world.store, world.resolver, world.dispatcher, world.publisher, prior=Durations({}),
                                    clock=world.clock, on_complete=service.on_complete)
    world.store.register_drone(identity("drone-2"))  # a package that fails on two drones is blocked: the session ends
    return service, files


def run(world: World, session: str, profile: str = "desk", fail: frozenset[str] = frozenset()) -> None:
    """Plan the session and answer every build (those of ``fail`` fail to compile, wherever and however often they run)."""
    world.resolver.plan = with_identities(PLAN)
    world.store.create_session(session, REQUEST, simulated=True, build_profile=profile, reuse=True)
    world.coordinator.plan(session)
    for _ in range(20):
        for request in world.dispatcher.take():
            drone = world.dispatcher.drone(request)
            world.coordinator.build_finished(failure(request, drone) if request.cpv in fail else success(request, drone))
        world.clock.t += 3600
        world.coordinator.dispatcher.dispatch("amd64")


def test_a_profiles_complete_session_becomes_a_published_generation_of_its_whole_world(world: World, gens: tuple[Generations, FakeFiles]) -> None:
    service, files = gens
    world.resolver.plan = with_identities(PLAN)
    world.store.create_session("p1", REQUEST, simulated=True, build_profile="desk", reuse=True)
    world.coordinator.plan("p1")
    first = world.dispatcher.take()
    world.coordinator.build_finished(success(first[0], world.dispatcher.drone(first[0])))
    assert files.made == []  # a running session's packages reach no generation: clients see no unfinished world
    world.store.fail_session("p1", "stopped for the test")
    run(world, "p1b")
    assert [(name, len(paths)) for name, _, paths in files.made] == [("desk/amd64/1", 5)]
    assert files.published_refs == [GenerationRef("desk", "amd64", 1)]
    run(world, "p2")  # nothing rebuilt: its generation names the files p1 published
    assert files.made[1][2] == files.made[0][2] and files.made[1][1].session == "p2"
    assert [v.published for v in service.views()] == [False, True]
    assert str(service.rollback("desk", "amd64").generation.ref) == "desk/amd64/1"


def test_a_session_with_failures_makes_a_generation_that_is_not_published(world: World, gens: tuple[Generations, FakeFiles]) -> None:
    _, files = gens
    run(world, "p1", fail=frozenset({"app-misc/tool-1"}))
    assert len(files.made) == 1 and files.published_refs == []
    assert "of 5 packages not published" in files.made[0][1].note


def test_sessions_outside_profiles_make_none_unless_asked(world: World, gens: tuple[Generations, FakeFiles]) -> None:
    service, files = gens
    run(world, "q1", profile="")
    assert files.made == []
    with pytest.raises(UserError, match="--profile"):
        service.for_session("q1")
    view = service.for_session("q1", profile="adhoc", publish=True)
    assert str(view.generation.ref) == "adhoc/amd64/1" and view.published


def test_gc_takes_old_uploads_of_attempts_that_never_published(world: World, tmp_path: Path) -> None:
    world.coordinator.plan("s1")
    in_flight = world.dispatcher.take()[0].attempt_id
    uploads = tmp_path / "uploads"
    for name in (in_flight, "f" * 32, "e" * 32):
        (uploads / name).mkdir(parents=True)
        (uploads / name / "x-1.gpkg.tar").write_bytes(b"x")
    for name in (in_flight, "f" * 32):
        os.utime(uploads / name, (0, 0))  # untouched for long; "e"*32 is fresh: its upload may still be arriving
    service = Generations(GenerationFiles(tmp_path / "binhost", uploads=uploads), world.store, world.clock)
    assert service.gc(["amd64"], dry_run=True) == [str(uploads / ("f" * 32))]
    service.gc(["amd64"])
    assert sorted(p.name for p in uploads.iterdir()) == sorted([in_flight, "e" * 32])
