"""Publication checks a GPKG's identity against the plan: SLOT, sub-slot and the USE flags of its IUSE. A package built
otherwise is refused, and the attempt fails as an artifact failure (retried elsewhere, counted against the drone)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg import BinpkgMetadata, write_gpkg
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.model import BuildResult, Outcome, PackageState, Plan, PlannedPackage
from swarm_celery.domain.records import PackageInfo
from swarm_celery.errors import ArtifactError
from swarm_celery.services.coordinator import Coordinator
from swarm_celery.store.queries import Queries
from tests.coordinator_kit import World, identity

PACKAGE = PackageInfo(1, "s1", "dev-libs/libgreet-1", "0", "1", "swarm-test", ("amd64", "extra"), 0, PackageState.BUILDING, "a" * 32,
                      slot_deps=("dev-libs/libfoo:0/2",))


def gpkg(tmp_path: Path, slot: str = "0/1", use: tuple[str, ...] = ("amd64", "extra"),
         rdepend: str = ">=dev-libs/libfoo-1.2:0/2= app-misc/other-libfoo:3/3=", attempt: str = "a" * 32) -> tuple[Path, str]:
    """What real emerge writes: SLOT with its sub-slot, IUSE with defaults, USE with the profile's implicit flags,
    and each ``:=`` dependency bound to the sub-slot it was built against."""
    meta = BinpkgMetadata(cpv="dev-libs/libgreet-1", slot=slot, repo="swarm-test", arch="amd64", use=use,
                          iuse=("+extra", "static-libs"), chost="x86_64-pc-linux-gnu", build_time=1, build_id=1,
                          depend=rdepend, rdepend=rdepend)
    (tmp_path / "staging" / attempt).mkdir(parents=True, exist_ok=True)  # where a drone leaves it
    path = write_gpkg(tmp_path / "staging" / attempt, meta, {"usr/lib64/libgreet.so.1": b"\x7fELF"})
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_package_built_as_planned_is_published(tmp_path: Path) -> None:
    artifact, sha = gpkg(tmp_path, use=("amd64", "elibc_glibc", "extra"))  # implicit flags are the profile's business
    published = BinhostPublisher(tmp_path / "binhost", staging=tmp_path / "staging").publish("amd64", artifact, sha, PACKAGE, simulated_ok=False)
    assert published.path == "dev-libs/libgreet/libgreet-1-1.gpkg.tar"


@pytest.mark.parametrize(("slot", "use", "rdepend", "message"), [
    ("0/2", ("amd64", "extra"), "", "has sub-slot 2, but the plan says 1"),
    ("1/1", ("amd64", "extra"), "", "has SLOT 1, but the plan says 0"),
    ("0/1", ("amd64",), "", r"built with USE -extra against the plan \(USE=\"extra\"\)"),
    ("0/1", ("amd64", "extra", "static-libs"), "", r"built with USE \+static-libs against the plan"),
    ("0/1", ("amd64", "extra"), "dev-libs/libfoo:0/1=", "built against dev-libs/libfoo:0/1, but the plan binds it to dev-libs/libfoo:0/2"),
])
def test_a_package_built_otherwise_is_refused(tmp_path: Path, slot: str, use: tuple[str, ...], rdepend: str, message: str) -> None:
    artifact, sha = gpkg(tmp_path, slot, use, rdepend)
    with pytest.raises(ArtifactError, match=message):
        BinhostPublisher(tmp_path / "binhost", staging=tmp_path / "staging").publish("amd64", artifact, sha, PACKAGE, simulated_ok=False)
    assert not (tmp_path / "binhost" / "amd64" / "Packages").exists()


def test_the_attempt_of_a_package_built_with_other_use_fails_as_an_artifact_failure(world: World, tmp_path: Path) -> None:
    planned = PlannedPackage("dev-libs/libgreet-1", "0", "1", "swarm-test", ("amd64", "extra"))
    world.resolver.plan = Plan(packages=(planned,), merge_order=(planned.cpv,))
    world.coordinator = Coordinator(world.store, world.resolver, world.dispatcher, BinhostPublisher(tmp_path / "binhost", staging=tmp_path / "staging"),
                                    prior=Durations({}), clock=world.clock)
    world.store.set_simulated("s1", False, "real builds")
    world.store.register_drone(replace(identity("drone-1"), builder="emerge"))
    world.coordinator.plan("s1")
    (request,) = world.dispatcher.take()
    artifact, sha = gpkg(tmp_path, use=("amd64",), attempt=request.attempt_id)  # the drone's own package.use turned extra off
    world.coordinator.build_finished(BuildResult(request.attempt_id, "drone-1", Outcome.SUCCESS, str(artifact), sha, 10, "ok", 1.0, 2.0))
    (attempt,) = Queries(world.store.engine).history("s1")
    assert (attempt.outcome, attempt.failure_kind, attempt.infrastructure) == ("failed", "artifact", True)
    assert attempt.error is not None and attempt.error.startswith("artifact rejected: libgreet-1-1.gpkg.tar was built with USE -extra")
    (package,) = Queries(world.store.engine).packages("s1")
    assert package.state == "needed"  # placed again after its backoff, not on drone-1
