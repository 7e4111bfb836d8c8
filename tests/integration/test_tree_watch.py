"""The tree watcher on real files: fingerprint, reproducible snapshots, pruning, auto-rebuild syncs, unreadable inputs."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from swarm_celery.domain.profiles import BuildProfile, Mode
from swarm_celery.resolve.inputs import default_profile, request_for_profile
from swarm_celery.resolve.snapshot import TreeSnapshots
from swarm_celery.resolve.synthetic import synthetic_world, write_synthetic_repo
from swarm_celery.services.profiles import ProfileBusy, ProfileSync, TreeWatcher
from swarm_celery.services.sessions import SessionQueue
from swarm_celery.store.engine import make_engine, migrate
from swarm_celery.store.queries import Queries
from swarm_celery.store.repository import SqlStore
from tests.coordinator_kit import FakeClock


@dataclass
class Plans:
    sent: list[str] = field(default_factory=list)

    def send_plan(self, session_id: str) -> None:
        self.sent.append(session_id)


@dataclass
class Kit:
    store: SqlStore
    repo: Path
    plans: Plans
    watcher: TreeWatcher
    snapshots: Path


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    engine = make_engine(f"sqlite:///{tmp_path / 'swarm.db'}")
    migrate(engine)
    store = SqlStore(engine, FakeClock())
    repo = write_synthetic_repo(tmp_path / "repo")
    plans = Plans()
    syncer = ProfileSync(store, request_for_profile, SessionQueue(store, plans, simulated=True))
    watcher = TreeWatcher(store, TreeSnapshots(tmp_path / "snapshots"), syncer, store.clock, keep=2)
    store.save_profile(BuildProfile("auto", Mode.DISTRIBUTION, "amd64", default_profile("amd64"), (str(repo),),
                                    world=tuple(synthetic_world()), auto_rebuild=True), create=True)
    store.save_profile(BuildProfile("manual", Mode.DISTRIBUTION, "amd64", default_profile("amd64"), (str(repo),),
                                    world=tuple(synthetic_world())), create=True)
    return Kit(store, repo, plans, watcher, tmp_path / "snapshots")


def touch_cache(repo: Path, entry: str = "sys-libs/zlib") -> None:
    """What a sync does to a package: its md5-cache entry changes (here: one more line, a new mtime)."""
    category, name = entry.split("/")
    cache = next((repo / "metadata" / "md5-cache" / category).glob(f"{name}-*"))
    cache.write_text(cache.read_text() + "\n")
    os.utime(cache, ns=(cache.stat().st_atime_ns, cache.stat().st_mtime_ns + 10**9))


def test_the_first_check_snapshots_the_tree_and_an_unchanged_tree_is_left_alone(kit: Kit) -> None:
    (first,) = kit.watcher.check()
    assert first.snapshot is not None and first.snapshot.reason == "first snapshot of this tree"
    assert first.synced == ()  # nothing to compare with yet: profiles are synced by hand the first time
    tarball = Path(first.snapshot.path)
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == first.snapshot.sha256
    assert first.snapshot.id == first.snapshot.sha256[:16] and first.snapshot.size == tarball.stat().st_size
    with tarfile.open(tarball) as tar:
        names = sorted(m.name for m in tar.getmembers())
    on_disk = sorted(str(Path("repo") / p.relative_to(kit.repo)) for p in kit.repo.rglob("*") if p.is_file())
    assert names == on_disk and first.snapshot.files == len(on_disk)
    (again,) = kit.watcher.check()
    assert again.snapshot is None and kit.store.snapshots() == [first.snapshot]


def test_the_same_tree_gives_the_same_tarball(kit: Kit, tmp_path: Path) -> None:
    files = TreeSnapshots(tmp_path / "other")
    one = files.take(kit.repo, "fp", "test")
    two = TreeSnapshots(tmp_path / "third").take(kit.repo, "fp", "test")
    assert one.sha256 == two.sha256 and one.path != two.path


def test_a_changed_tree_is_snapshotted_pruned_and_its_auto_rebuild_profiles_synced(kit: Kit) -> None:
    (first,) = kit.watcher.check()
    touch_cache(kit.repo)
    (second,) = kit.watcher.check()
    assert second.snapshot is not None and second.snapshot.reason == f"the tree changed since snapshot {first.snapshot.id}"  # type: ignore[union-attr]
    assert [s.build_profile for s in second.synced] == ["auto"] and kit.plans.sent == [second.synced[0].session]
    session = kit.store.get_session(second.synced[0].session)
    assert session is not None and session.build_profile == "auto" and session.reuse
    kit.store.fail_session(session.id, "ended (here: by the test)")
    touch_cache(kit.repo, "app-arch/xz-utils")
    (third,) = kit.watcher.check()
    assert third.pruned == (first.snapshot.id,) and not Path(first.snapshot.path).exists()  # type: ignore[union-attr]
    assert [s.id for s in kit.store.snapshots()] == [third.snapshot.id, second.snapshot.id]  # type: ignore[union-attr]
    kinds = [e.kind for e in Queries(kit.store.engine).events(None, limit=100)]
    assert kinds.count("tree.snapshot") == 3 and kinds.count("profile.auto_rebuild") == 2


def test_a_profile_that_cannot_be_read_is_an_event_and_the_others_still_sync(kit: Kit, tmp_path: Path) -> None:
    kit.store.save_profile(BuildProfile("gone", Mode.USER, "amd64", default_profile("amd64"), (str(kit.repo),),
                                        machine_root=str(tmp_path / "unmounted"), auto_rebuild=True), create=True)
    kit.watcher.check()
    touch_cache(kit.repo)
    (check,) = kit.watcher.check()
    assert [s.build_profile for s in check.synced] == ["auto"]
    assert check.errors == (f"gone: profile gone: the machine root {tmp_path / 'unmounted'} does not exist; mount or copy the "
                            "machine there, or point the profile elsewhere with `build-swarm profile edit gone --machine PATH`",)
    assert any(e.kind == "profile.sync_failed" for e in Queries(kit.store.engine).events(None, limit=100))


def test_a_tree_that_vanished_is_an_event_not_a_crash(kit: Kit) -> None:
    shutil.rmtree(kit.repo)
    (check,) = kit.watcher.check()
    assert check.snapshot is None and check.errors == (f"the tree {kit.repo} does not exist",)
    (event,) = [e for e in Queries(kit.store.engine).events(None, limit=100) if e.kind == "tree.unreadable"]
    assert event.message.startswith(f"{kit.repo}: the tree {kit.repo} does not exist; profiles auto, manual wait")


def test_a_profile_still_building_is_synced_once_its_session_ended(kit: Kit) -> None:
    kit.watcher.check()
    touch_cache(kit.repo)
    (first,) = kit.watcher.check()
    busy = first.synced[0].session  # planning: no coordinator here
    touch_cache(kit.repo, "app-arch/xz-utils")
    (second,) = kit.watcher.check()
    assert second.snapshot is not None and second.synced == ()
    (postponed,) = [e for e in Queries(kit.store.engine).events(None, limit=100) if e.kind == "profile.sync_postponed"]
    assert postponed.message == (f"auto: the tree changed (snapshot {second.snapshot.id}), but session {busy} is still "
                                    "running: synced once it ended")
    (third,) = kit.watcher.check()
    assert third.snapshot is None and third.synced == ()  # still running: still waiting
    kit.store.fail_session(busy, "ended (here: by the test)")
    (fourth,) = kit.watcher.check()
    assert fourth.snapshot is None and [s.build_profile for s in fourth.synced] == ["auto"]
    (fifth,) = kit.watcher.check()
    assert fifth.synced == ()  # done once


def test_a_sync_by_hand_is_refused_while_the_profile_builds(kit: Kit) -> None:
    syncer = kit.watcher.syncer
    first = syncer.sync("manual")
    with pytest.raises(ProfileBusy) as refused:
        syncer.sync("manual", full=True)
    assert str(refused.value) == (f"profile manual: session {first.session} is still running; wait for it (`build-swarm "
                                  f"status --session {first.session}`) or cancel it (`build-swarm control cancel --session "
                                  f"{first.session}`)")
    assert kit.plans.sent == [first.session]
