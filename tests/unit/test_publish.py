"""Simulated builds and publishing: the artifact path a real build takes, and every way it is refused."""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from swarm_celery.binhost.gpkg_read import read_gpkg_metadata
from swarm_celery.binhost.index import parse_index
from swarm_celery.binhost.publisher import BinhostPublisher
from swarm_celery.domain.durations import Durations
from swarm_celery.domain.failures import FailureKind, classify_failure
from swarm_celery.domain.model import BuildRequest, PackageState
from swarm_celery.domain.records import PackageInfo
from swarm_celery.drone.builders import SimulateBuilder
from swarm_celery.errors import ArtifactError, BuildFailed

REQUEST = BuildRequest("a" * 32, "s1", "app-misc/tmux-3.5a", "amd64", "0", "gentoo", ("amd64", "utempter"))
PACKAGE = PackageInfo(1, "s1", "app-misc/tmux-3.5a", "0", "0", "gentoo", ("amd64", "utempter"), 0, PackageState.BUILDING, "a" * 32)


def build(tmp_path: Path) -> tuple[Path, str]:
    """A simulated build where a drone leaves it: <staging>/<attempt>/<name>."""
    out = SimulateBuilder(Durations({}), 0.0).build(REQUEST, tmp_path / "staging" / REQUEST.attempt_id)
    return out.artifact, out.sha256


def publisher(tmp_path: Path) -> BinhostPublisher:
    return BinhostPublisher(tmp_path / "binhost", staging=tmp_path / "staging")


def test_simulated_build_writes_a_real_gpkg_with_the_requested_metadata(tmp_path: Path) -> None:
    artifact, sha = build(tmp_path)
    assert artifact.name == "tmux-3.5a-1.gpkg.tar"
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == sha
    meta = read_gpkg_metadata(artifact)
    assert (meta["CATEGORY"], meta["PF"], meta["SLOT"], meta["repository"]) == ("app-misc", "tmux-3.5a", "0", "gentoo")
    assert meta["USE"].split() == ["amd64", "utempter"] and meta["CHOST"] == "x86_64-pc-linux-gnu"


def test_simulated_failures_read_like_emerge_and_classify(tmp_path: Path) -> None:
    builder = SimulateBuilder(Durations({}), 0.0, frozenset({"app-misc/tmux"}))
    with pytest.raises(BuildFailed) as compile_error:
        builder.build(REQUEST, tmp_path)
    assert " * ERROR: app-misc/tmux-3.5a::gentoo failed (compile phase):" in compile_error.value.log_tail
    why = classify_failure(compile_error.value.log_tail)
    assert (why.kind, why.phase, why.infrastructure) == (FailureKind.COMPILE, "compile", False)
    infra = SimulateBuilder(Durations({}), 0.0, frozenset({"infra:*"}))
    with pytest.raises(BuildFailed) as disk_full:
        infra.build(REQUEST, tmp_path)
    why = classify_failure(disk_full.value.log_tail)
    assert (why.kind, why.infrastructure) == (FailureKind.DISK_FULL, True)


def test_simulated_speed_scales_the_reported_build_time(tmp_path: Path) -> None:
    output = SimulateBuilder(Durations({"app-misc/tmux": 40.0}), 0.0, speed=2.0).build(REQUEST, tmp_path)
    assert output.build_seconds == 80.0


def test_publish_places_file_and_index_entry(tmp_path: Path) -> None:
    artifact, sha = build(tmp_path)
    published = publisher(tmp_path).publish("amd64", artifact, sha, PACKAGE)
    tree = tmp_path / "binhost" / "amd64"
    assert published.path == "app-misc/tmux/tmux-3.5a-1.gpkg.tar" and (tree / published.path).is_file()
    header, entries = parse_index((tree / "Packages").read_text())
    assert int(header["PACKAGES"]) == 1 and header["ARCH"] == "amd64"
    assert [(e.cpv, e.path, e.build_id) for e in entries] == [("app-misc/tmux-3.5a", published.path, 1)]
    again = publisher(tmp_path).publish("amd64", artifact, sha, PACKAGE)  # idempotent
    assert again == published and len(parse_index((tree / "Packages").read_text())[1]) == 1


def test_a_rebuild_gets_a_new_build_id_and_never_overwrites_a_published_file(tmp_path: Path) -> None:
    artifact, sha = build(tmp_path)
    first = publisher(tmp_path).publish("amd64", artifact, sha, PACKAGE)
    tree = tmp_path / "binhost" / "amd64"
    before = (tree / first.path).read_bytes()
    again = replace(REQUEST, attempt_id="b" * 32)
    out = SimulateBuilder(Durations({}), 0.0).build(again, tmp_path / "staging" / again.attempt_id)
    assert out.artifact.name == first.path.rsplit("/", 1)[1]  # the drone named it BUILD_ID 1 again
    second = publisher(tmp_path).publish("amd64", out.artifact, out.sha256, replace(PACKAGE, current_attempt=again.attempt_id))
    assert second.path == "app-misc/tmux/tmux-3.5a-2.gpkg.tar" and (tree / first.path).read_bytes() == before
    meta = read_gpkg_metadata(tree / second.path)  # the Manifest verifies, the metadata says the new number
    assert meta["BUILD_ID"] == "2" and meta["PF"] == "tmux-3.5a"
    with tarfile.open(tree / second.path) as container:
        assert {m.name.split("/")[0] for m in container.getmembers()} == {"tmux-3.5a-2"}
    entries = parse_index((tree / "Packages").read_text())[1]
    assert [(e.path, e.build_id) for e in entries] == [(first.path, 1), (second.path, 2)]
    assert entries[1].sha1 == hashlib.sha1((tree / second.path).read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p, s: (p, "0" * 64), "sha256 mismatch"),
        (lambda p, s: (p.with_name("missing-1.gpkg.tar"), s), "never arrived whole"),
        (lambda p, s: _corrupt(p), "not a valid GPKG"),
        (lambda p, s: _garbage(p), "not a valid GPKG"),
    ],
)
def test_publish_refuses_bad_artifacts_and_publishes_nothing(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    artifact, sha = build(tmp_path)
    bad_path, bad_sha = mutate(artifact, sha)
    with pytest.raises(ArtifactError, match=message):
        publisher(tmp_path).publish("amd64", bad_path, bad_sha, PACKAGE)
    assert not (tmp_path / "binhost" / "amd64" / "Packages").exists()


@pytest.mark.parametrize(
    ("package", "message"),
    [
        (replace(PACKAGE, cpv="app-misc/screen-4.9.1"), "holds app-misc/tmux-3.5a"),
        (replace(PACKAGE, slot="2"), "SLOT 0"),
        (replace(PACKAGE, repo="supplement"), "::gentoo"),
    ],
)
def test_publish_refuses_metadata_that_does_not_match_the_plan(tmp_path: Path, package: PackageInfo, message: str) -> None:
    artifact, sha = build(tmp_path)
    with pytest.raises(ArtifactError, match=message):
        publisher(tmp_path).publish("amd64", artifact, sha, package)


def _corrupt(path: Path) -> tuple[Path, str]:
    """Flip one byte inside the compressed image (what a bad disk or a broken upload does)."""
    with tarfile.open(path) as tar:
        image = next(m for m in tar.getmembers() if "/image.tar" in m.name)
    data = bytearray(path.read_bytes())
    data[image.offset_data + image.size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path, hashlib.sha256(bytes(data)).hexdigest()


def _garbage(path: Path) -> tuple[Path, str]:
    path.write_bytes(b"not a tar at all")
    return path, hashlib.sha256(b"not a tar at all").hexdigest()


def test_publish_many_places_every_good_artifact_with_one_index_and_names_each_rejected_one(tmp_path: Path) -> None:
    builder = SimulateBuilder(Durations({}), 0.0)
    screen_request = replace(REQUEST, attempt_id="b" * 32, cpv="app-misc/screen-4.9.1")
    screen = replace(PACKAGE, id=2, cpv="app-misc/screen-4.9.1", current_attempt="b" * 32)
    tmux_out = builder.build(REQUEST, tmp_path / "staging" / REQUEST.attempt_id)
    screen_out = builder.build(screen_request, tmp_path / "staging" / screen_request.attempt_id)
    (tmp_path / "staging" / ("c" * 32)).mkdir()
    bad, bad_sha = _garbage(tmp_path / "staging" / ("c" * 32) / "bad-1-1.gpkg.tar")
    bad_package = replace(PACKAGE, id=3, cpv="app-misc/bad-1", current_attempt="c" * 32)
    outcomes = publisher(tmp_path).publish_many("amd64", [
        (tmux_out.artifact, tmux_out.sha256, PACKAGE), (bad, bad_sha, bad_package), (screen_out.artifact, screen_out.sha256, screen),
        (tmux_out.artifact, tmux_out.sha256, PACKAGE),  # a redelivered report in the same batch
    ], simulated_ok=True)
    assert [type(o).__name__ for o in outcomes] == ["PublishedArtifact", "ArtifactError", "PublishedArtifact", "PublishedArtifact"]
    assert "not a valid GPKG" in str(outcomes[1])
    tree = tmp_path / "binhost" / "amd64"
    header, entries = parse_index((tree / "Packages").read_text())
    assert int(header["PACKAGES"]) == 2 and sorted(e.cpv for e in entries) == ["app-misc/screen-4.9.1", "app-misc/tmux-3.5a"]
    assert all((tree / e.path).is_file() for e in entries)


def test_publish_many_with_nothing_good_leaves_the_index_alone(tmp_path: Path) -> None:
    bad, bad_sha = _garbage(tmp_path / "bad.gpkg.tar")
    outcomes = publisher(tmp_path).publish_many("amd64", [(bad, bad_sha, PACKAGE)])
    assert isinstance(outcomes[0], ArtifactError)
    assert not (tmp_path / "binhost" / "amd64" / "Packages").exists()


def test_an_uploaded_artifact_is_taken_from_the_upload_area_and_the_upload_removed(tmp_path: Path) -> None:
    artifact, digest = build(tmp_path)
    uploads = tmp_path / "uploads"
    (uploads / REQUEST.attempt_id).mkdir(parents=True)
    artifact.rename(uploads / REQUEST.attempt_id / artifact.name)
    published = BinhostPublisher(tmp_path / "binhost", uploads).publish("amd64", Path(f"upload://{REQUEST.attempt_id}/{artifact.name}"),
                                                                        digest, PACKAGE)
    assert (tmp_path / "binhost" / "amd64" / published.path).is_file()
    assert not (uploads / REQUEST.attempt_id).exists()


@pytest.mark.parametrize(("ref", "uploads", "message"), [
    (f"upload://{'a' * 32}/tmux-3.5a-1.gpkg.tar", True, "never arrived whole"),
    (f"upload://{'b' * 32}/tmux-3.5a-1.gpkg.tar", True, "names the upload of another attempt"),
    (f"upload://{'a' * 32}/../../swarm.db", True, "malformed upload reference"),
    (f"upload://{'a' * 32}/.hidden.gpkg.tar", True, "is not a GPKG file name"),
    ("upload://not-an-attempt/x.gpkg.tar", True, "attempt ids are 32 hex digits"),
    (f"upload://{'a' * 32}/tmux-3.5a-1.gpkg.tar", False, "this coordinator takes no uploads"),
])
def test_bad_upload_references_are_artifact_errors(tmp_path: Path, ref: str, uploads: bool, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        BinhostPublisher(tmp_path / "binhost", tmp_path / "uploads" if uploads else None).publish("amd64", Path(ref), "0" * 64, PACKAGE)


def test_a_simulated_gpkg_says_so_and_is_refused_for_real_sessions(tmp_path: Path) -> None:
    artifact, digest = build(tmp_path)
    assert read_gpkg_metadata(artifact)["BUILD_SWARM_SIMULATED"].split()[0] == "0.0"  # its time scale: never compiled
    binhost = publisher(tmp_path)
    refused = binhost.publish_many("amd64", [(artifact, digest, PACKAGE)], simulated_ok=False)[0]
    assert isinstance(refused, ArtifactError) and "is a simulated build (BUILD_SWARM_SIMULATED): refused" in str(refused)
    assert not (tmp_path / "binhost" / "amd64" / "Packages").exists()
    assert not isinstance(binhost.publish_many("amd64", [(artifact, digest, PACKAGE)], simulated_ok=True)[0], ArtifactError)
